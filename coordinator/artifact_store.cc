#include "coordinator/artifact_store.h"

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/text.h"

namespace corral::coordinator {

bool ArtifactStore::IsSha256(const std::string& s) { return IsLowerHex(s, 64); }

std::filesystem::path ArtifactStore::PathOf(const std::string& sha256) const {
  return dir_ / sha256.substr(0, 2) / sha256;
}

bool ArtifactStore::Check(const std::string& sha256, const std::string& data, std::string* code,
                          std::string* detail) const {
  if (!IsSha256(sha256)) {
    *code = "bad_payload";
    *detail = "artifacts are named by the lower-case hex sha256 of their content";
    return false;
  }
  if (data.size() > max_bytes_) {
    *code = "too_large";
    *detail = "artifact of " + std::to_string(data.size()) + " bytes exceeds the limit of " +
              std::to_string(max_bytes_) + " bytes";
    return false;
  }
  std::string actual = Sha256Hex(data);
  if (actual != sha256) {
    *code = "wrong_input";
    *detail = "the body's sha256 is " + actual + ", not " + sha256 + " as the path says";
    return false;
  }
  return true;
}

bool ArtifactStore::Has(const std::string& sha256) const {
  std::error_code ec;
  return IsSha256(sha256) && std::filesystem::exists(PathOf(sha256), ec);
}

bool ArtifactStore::Put(const std::string& sha256, const std::string& data, std::string* code,
                        std::string* detail) {
  return Check(sha256, data, code, detail) && Write(sha256, data, code, detail);
}

bool ArtifactStore::Write(const std::string& sha256, const std::string& data, std::string* code,
                          std::string* detail) {
  std::filesystem::path path = PathOf(sha256);
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return true;
  std::string err;
  if (!EnsureDir(path.parent_path(), &err) || !WriteFileAtomic(path, data, &err)) {
    *code = "internal";
    *detail = "storing artifact " + sha256 + ": " + err;
    return false;
  }
  return true;
}

bool ArtifactStore::Get(const std::string& sha256, std::string* data) const {
  if (!IsSha256(sha256)) return false;
  std::string err;
  return ReadFile(PathOf(sha256), data, &err);
}

std::shared_ptr<const std::string> ArtifactStore::GetShared(const std::string& sha256) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(sha256);
    if (it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.data;
    }
  }
  std::string data;
  if (!Get(sha256, &data)) return nullptr;
  auto shared = std::make_shared<const std::string>(std::move(data));
  if (shared->size() > cache_bytes_ / 8) return shared;
  std::lock_guard<std::mutex> lock(mu_);
  if (cache_.count(sha256)) return shared;  // another thread read it meanwhile
  lru_.push_front(sha256);
  cache_[sha256] = {shared, lru_.begin()};
  cached_bytes_ += shared->size();
  while (cached_bytes_ > cache_bytes_ && !lru_.empty()) {
    auto victim = cache_.find(lru_.back());
    cached_bytes_ -= victim->second.data->size();
    cache_.erase(victim);
    lru_.pop_back();
  }
  return shared;
}

}  // namespace corral::coordinator
