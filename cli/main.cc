// The one `corral` binary: git-style subcommands (DESIGN.md section 4a).
#include <cstdio>

int main(int argc, char** argv) {
  std::fprintf(stderr, "corral: no subcommands are wired yet\n");
  return 2;
}
