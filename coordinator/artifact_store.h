// Wheels and logs that volunteers upload with their results, stored on disk
// by content: DATA/artifacts/ab/<sha256>. A file is written once, atomically,
// and never changes, so readers need no lock.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace corral::coordinator {

class ArtifactStore {
 public:
  ArtifactStore(std::filesystem::path dir, size_t max_bytes)
      : dir_(std::move(dir)), max_bytes_(max_bytes) {}

  // Stores `data` under `sha256` (64 lower-case hex). Returns false with
  // *code ("bad_payload", "wrong_input", "too_large", "internal") and
  // *detail when the name is malformed, the content does not hash to it, it
  // is too large, or the write fails. Storing existing content is a no-op.
  bool Put(const std::string& sha256, const std::string& data, std::string* code,
           std::string* detail);
  // Reads an artifact; false when absent.
  bool Get(const std::string& sha256, std::string* data) const;
  std::filesystem::path PathOf(const std::string& sha256) const;
  size_t max_bytes() const { return max_bytes_; }

  static bool IsSha256(const std::string& s);

 private:
  std::filesystem::path dir_;
  size_t max_bytes_;
};

}  // namespace corral::coordinator
