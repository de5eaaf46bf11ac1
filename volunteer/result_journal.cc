#include "volunteer/result_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/crypto.h"
#include "common/fs_util.h"

namespace corral::volunteer {

namespace fs = std::filesystem;

namespace {

// Makes a file's data, or a folder's entries, durable: a rename is only
// safe across a power loss once the folder holding it is synced too.
bool Fsync(const fs::path& path, std::string* err) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fsync(fd) != 0) {
    *err = "cannot sync " + path.string() + ": " + std::strerror(errno);
    if (fd >= 0) close(fd);
    return false;
  }
  close(fd);
  return true;
}

}  // namespace

ResultJournal::ResultJournal(fs::path dir) : dir_(std::move(dir)) {}

bool ResultJournal::Open(std::string* err) {
  if (!EnsureDir(dir_ / "artifacts", err) || !EnsureDir(dir_ / "corrupt", err) ||
      !EnsureDir(dir_ / "rejected", err))
    return false;
  // Temporary files of writes a crash interrupted: never complete entries.
  std::error_code ec;
  for (const fs::path& d : {dir_, dir_ / "artifacts"})
    for (const auto& de : fs::directory_iterator(d, ec)) {
      std::string name = de.path().filename().string();
      if (name.find(".tmp") != std::string::npos) fs::remove(de.path(), ec);
    }
  return true;
}

bool ResultJournal::Add(const std::string& lease_id, const nlohmann::json& envelope,
                        const std::vector<Artifact>& artifacts, std::string* err) {
  nlohmann::json entry = {{"lease_id", lease_id}, {"envelope", envelope},
                          {"artifacts", nlohmann::json::array()}};
  for (const auto& a : artifacts) {
    fs::path kept = dir_ / "artifacts" / a.sha256;
    std::error_code ec;
    if (!fs::exists(kept, ec)) {
      fs::path tmp = kept;
      tmp += ".tmp";
      fs::copy_file(a.path, tmp, fs::copy_options::overwrite_existing, ec);
      if (!ec && !Fsync(tmp, err)) return false;
      if (!ec) fs::rename(tmp, kept, ec);
      if (ec) {
        *err = "cannot keep artifact " + a.path.string() + " in the journal: " + ec.message();
        return false;
      }
    }
    entry["artifacts"].push_back({{"sha256", a.sha256}});
  }
  entry["written_at"] = NowSeconds();
  return Fsync(dir_ / "artifacts", err) &&
         WriteFileAtomic(dir_ / (lease_id + ".json"), entry.dump(), err, 0600) && Fsync(dir_, err);
}

std::vector<ResultJournal::Entry> ResultJournal::Pending(std::vector<std::string>* problems) {
  std::vector<std::pair<fs::file_time_type, Entry>> found;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(dir_, ec)) {
    if (!de.is_regular_file() || de.path().extension() != ".json") continue;
    std::string text, err;
    Entry e;
    e.file = de.path();
    bool good = ReadFile(de.path(), &text, &err);
    nlohmann::json j = good ? nlohmann::json::parse(text, nullptr, false) : nlohmann::json();
    good = good && j.is_object() && j.contains("lease_id") && j["lease_id"].is_string() &&
           j.contains("envelope") && j["envelope"].is_object() && j.contains("artifacts") &&
           j["artifacts"].is_array();
    if (good) {
      e.lease_id = j["lease_id"];
      e.envelope = j["envelope"];
      for (const auto& a : j["artifacts"]) {
        if (!a.is_object() || !a.contains("sha256") || !a["sha256"].is_string()) {
          good = false;
          break;
        }
        Artifact art{a["sha256"], dir_ / "artifacts" / a["sha256"].get<std::string>()};
        if (!fs::exists(art.path, ec)) {
          good = false;
          break;
        }
        e.artifacts.push_back(art);
      }
    }
    if (!good) {
      fs::path aside = dir_ / "corrupt" / de.path().filename();
      fs::rename(de.path(), aside, ec);
      problems->push_back("journal entry " + de.path().string() +
                          " is unreadable or incomplete; moved to " + aside.string() +
                          " (its result will not be submitted; the lease expires and the task "
                          "is re-issued)");
      continue;
    }
    found.emplace_back(fs::last_write_time(de.path(), ec), std::move(e));
  }
  std::sort(found.begin(), found.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<Entry> out;
  for (auto& [t, e] : found) out.push_back(std::move(e));
  return out;
}

void ResultJournal::DropArtifacts(const Entry& entry) {
  // Artifacts are content-addressed and may be shared by two entries.
  std::vector<std::string> unused;
  std::vector<std::string> ignored;
  std::vector<Entry> others = Pending(&ignored);
  for (const auto& a : entry.artifacts) {
    bool shared = std::any_of(others.begin(), others.end(), [&](const Entry& o) {
      return o.lease_id != entry.lease_id &&
             std::any_of(o.artifacts.begin(), o.artifacts.end(),
                         [&](const Artifact& b) { return b.sha256 == a.sha256; });
    });
    if (!shared) unused.push_back(a.sha256);
  }
  std::error_code ec;
  for (const auto& sha : unused) fs::remove(dir_ / "artifacts" / sha, ec);
}

void ResultJournal::Remove(const Entry& entry) {
  std::error_code ec;
  fs::remove(entry.file, ec);
  DropArtifacts(entry);
}

void ResultJournal::SetAside(const Entry& entry, const std::string& why) {
  std::error_code ec;
  nlohmann::json j = {{"lease_id", entry.lease_id}, {"envelope", entry.envelope}, {"refused", why}};
  std::string err;
  WriteFileAtomic(dir_ / "rejected" / entry.file.filename(), j.dump(2), &err, 0600);
  fs::remove(entry.file, ec);
  DropArtifacts(entry);
}

size_t ResultJournal::size() {
  // Counted without reading: Pending() alone judges (and reports) entries.
  size_t n = 0;
  std::error_code ec;
  for (const auto& de : fs::directory_iterator(dir_, ec))
    if (de.is_regular_file(ec) && de.path().extension() == ".json") ++n;
  return n;
}

}  // namespace corral::volunteer
