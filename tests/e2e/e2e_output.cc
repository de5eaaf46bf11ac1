#include <filesystem>

#include "tests/e2e/e2e_checks.h"

namespace corral {

std::filesystem::path E2eOutputDir() {
  std::filesystem::path dir = std::filesystem::path(CORRAL_TEST_OUTPUT_DIR) / "e2e";
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace corral
