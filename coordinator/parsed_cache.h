// Records as parsed, with the exact bytes they were parsed from, so that a
// record read again and again (a project's, on every verdict; a wheel's, on
// every download) is parsed only when its stored bytes changed. Always what
// the store holds now: every Get reads the bytes and compares, so whoever
// else writes the record only causes a miss. Thread-safe; bounded (the whole
// cache is dropped when full, and refills from what is asked).
#pragma once

#include <spdlog/spdlog.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "common/protocol.h"
#include "coordinator/records.h"
#include "coordinator/store.h"

namespace corral::coordinator {

template <class Record>
class ParsedRecordCache {
 public:
  explicit ParsedRecordCache(Cf cf, size_t max_entries = 4096) : cf_(cf), max_entries_(max_entries) {}

  // The record stored under `key`; false when absent or not a valid record.
  bool Get(const Store& store, const std::string& key, Record* out) {
    std::string bytes;
    if (!store.Get(cf_, key, &bytes)) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = entries_.find(key);
      if (it != entries_.end() && it->second.bytes == bytes) {
        *out = it->second.record;
        return true;
      }
    }
    nlohmann::json j = ParseJsonOrDiscarded(bytes);
    if (j.is_discarded()) {
      spdlog::error("store: the record '{}' is not valid JSON", key);
      return false;
    }
    if (!FromJson(j, out)) return false;
    Remember(key, std::move(bytes), *out);
    return true;
  }

  // `bytes`, just written under `key`, say `record`: the next Get needs no parse.
  void Remember(const std::string& key, std::string bytes, const Record& record) {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.size() >= max_entries_ && !entries_.count(key)) entries_.clear();
    entries_[key] = Entry{std::move(bytes), record};
  }

 private:
  struct Entry {
    std::string bytes;
    Record record;
  };

  const Cf cf_;
  const size_t max_entries_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace corral::coordinator
