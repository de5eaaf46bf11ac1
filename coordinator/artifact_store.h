// Wheels and logs that volunteers upload with their results, stored on disk
// by content: DATA/artifacts/ab/<sha256>. A file is written once, atomically,
// and never changes, so readers need no lock, and a copy kept in memory is
// never stale: GetShared serves the most recently read artifacts from memory.
#pragma once

#include <cstddef>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace corral::coordinator {

class ArtifactStore {
 public:
  ArtifactStore(std::filesystem::path dir, size_t max_bytes, size_t cache_bytes = 256 << 20)
      : dir_(std::move(dir)), max_bytes_(max_bytes), cache_bytes_(cache_bytes) {}

  // Stores `data` under `sha256` (64 lower-case hex). Returns false with
  // *code ("bad_payload", "wrong_input", "too_large", "internal") and
  // *detail when the name is malformed, the content does not hash to it, it
  // is too large, or the write fails. Storing existing content is a no-op.
  bool Put(const std::string& sha256, const std::string& data, std::string* code,
           std::string* detail);
  // Put in two steps, for a caller that decides in between (the quota):
  // Check refuses as Put does, without writing; Write stores content that
  // passed Check ("internal" when the disk refuses). Both thread-safe.
  bool Check(const std::string& sha256, const std::string& data, std::string* code,
             std::string* detail) const;
  bool Write(const std::string& sha256, const std::string& data, std::string* code, std::string* detail);
  // True when the content is stored already.
  bool Has(const std::string& sha256) const;
  // Reads an artifact; false when absent.
  bool Get(const std::string& sha256, std::string* data) const;
  // The same bytes, shared with an in-memory cache of the artifacts read
  // last (at most cache_bytes in all, least recently used dropped first;
  // none larger than an eighth of it is kept). nullptr when absent.
  std::shared_ptr<const std::string> GetShared(const std::string& sha256) const;
  std::filesystem::path PathOf(const std::string& sha256) const;
  size_t max_bytes() const { return max_bytes_; }

  static bool IsSha256(const std::string& s);

 private:
  struct Cached {
    std::shared_ptr<const std::string> data;
    std::list<std::string>::iterator lru;  // position in lru_, newest first
  };

  std::filesystem::path dir_;
  size_t max_bytes_;
  size_t cache_bytes_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, Cached> cache_;
  mutable std::list<std::string> lru_;
  mutable size_t cached_bytes_ = 0;
};

}  // namespace corral::coordinator
