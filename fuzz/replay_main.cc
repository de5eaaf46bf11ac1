// The fuzz targets as ordinary tests (ctest runs one per target with g++,
// no clang needed): every file of the target's committed corpus, then
// `--mutations N` inputs made from them by a deterministic mutator (byte
// flips, insertions, deletions, splices of two inputs, truncations, repeats),
// fed to LLVMFuzzerTestOneInput. A crash or abort fails the test; so do the
// sanitizers when built with CORRAL_FUZZ. scripts/fuzz runs the real
// libFuzzer instead, for a bounded time.
//
//   NAME_replay CORPUS_DIR [--mutations N] [--seed S]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string Mutate(const std::vector<std::string>& corpus, std::mt19937_64& rng) {
  std::string s = corpus[rng() % corpus.size()];
  const int steps = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < steps; ++i) {
    size_t at = s.empty() ? 0 : rng() % s.size();
    switch (rng() % 7) {
      case 0:  // flip a bit
        if (!s.empty()) s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
        break;
      case 1:  // an interesting byte
        if (!s.empty()) s[at] = "\0\xff\x7f\x80{}[]\"\\<>&%\n"[rng() % 16];
        break;
      case 2:  // insert bytes
        s.insert(at, std::string(1 + rng() % 8, static_cast<char>(rng() % 256)));
        break;
      case 3:  // delete a range
        if (!s.empty()) s.erase(at, 1 + rng() % std::min<size_t>(16, s.size() - at));
        break;
      case 4: {  // splice with another input
        const std::string& other = corpus[rng() % corpus.size()];
        size_t from = other.empty() ? 0 : rng() % other.size();
        s = s.substr(0, at) + other.substr(from);
        break;
      }
      case 5:  // truncate
        s.resize(at);
        break;
      case 6: {  // repeat a piece (deep nesting, long lists)
        size_t len = std::min<size_t>(1 + rng() % 8, s.size() - std::min(at, s.size()));
        std::string piece = s.substr(at, len);
        std::string rep;
        for (int k = 0, n = 1 + static_cast<int>(rng() % 200); k < n; ++k) rep += piece;
        s.insert(at, rep);
        break;
      }
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [--mutations N] [--seed S]\n", argv[0]);
    return 2;
  }
  long mutations = 2000;
  uint64_t seed = 1;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--mutations") mutations = std::strtol(argv[i + 1], nullptr, 10);
    else if (flag == "--seed") seed = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::vector<std::string> corpus;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1], ec)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (ec || corpus.empty()) {
    std::fprintf(stderr, "%s: no corpus in %s (%s): every target keeps its seeds in fuzz/corpus/NAME\n", argv[0],
                 argv[1], ec ? ec.message().c_str() : "empty");
    return 2;
  }
  for (const auto& input : corpus)
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  std::mt19937_64 rng(seed);
  for (long i = 0; i < mutations; ++i) {
    std::string input = Mutate(corpus, rng);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
  std::printf("%zu corpus inputs and %ld mutations ran without a crash\n", corpus.size(), mutations);
  return 0;
}
