#include "coordinator/wheel_index.h"

#include <archive.h>
#include <archive_entry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "common/archive_error.h"
#include "common/crypto.h"
#include "common/names.h"
#include "common/pep440.h"
#include "common/protocol.h"
#include "common/text.h"
#include "coordinator/artifact_store.h"
#include "coordinator/records.h"
#include "sandbox/wheel_digest.h"

namespace corral::coordinator {

namespace {

bool IsTagChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.';
}

bool AllTagChars(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTagChar);
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (Lower(a[i]) != Lower(b[i])) return false;
  return true;
}

// "1.0" and "1.0.0" are one version; unparsable ones compare by spelling.
bool SameVersion(const std::string& a, const std::string& b) {
  Version va, vb;
  std::string err;
  if (ParseVersion(a, &va, &err) && ParseVersion(b, &vb, &err)) return CompareVersions(va, vb) == 0;
  return a == b;
}

bool VersionLess(const std::string& a, const std::string& b) {
  Version va, vb;
  std::string err;
  bool pa = ParseVersion(a, &va, &err), pb = ParseVersion(b, &vb, &err);
  if (pa && pb) return CompareVersions(va, vb) < 0;
  if (pa != pb) return !pa;
  return a < b;
}

// A top-level "<something>.dist-info/METADATA".
bool IsMetadataEntry(std::string_view path) {
  size_t slash = path.find('/');
  if (slash == std::string_view::npos || path.substr(slash + 1) != "METADATA") return false;
  std::string_view dir = path.substr(0, slash);
  return dir.size() > 10 && dir.substr(dir.size() - 10) == ".dist-info";
}

std::string Short(const std::string& s, size_t n) { return s.size() > n ? s.substr(0, n) : s; }

}  // namespace

bool ParseWheelFilename(std::string_view filename, WheelName* out, std::string* err) {
  auto fail = [&](const std::string& why) {
    *err = "'" + std::string(filename.substr(0, 200)) + "' is not a valid wheel file name: " + why;
    return false;
  };
  if (filename.size() > 255) return fail("longer than 255 characters");
  if (filename.size() < 5 || filename.substr(filename.size() - 4) != ".whl")
    return fail("it does not end in .whl");
  std::string_view stem = filename.substr(0, filename.size() - 4);
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (true) {
    size_t dash = stem.find('-', pos);
    parts.push_back(stem.substr(pos, dash == std::string_view::npos ? std::string_view::npos : dash - pos));
    if (dash == std::string_view::npos) break;
    pos = dash + 1;
  }
  if (parts.size() != 5 && parts.size() != 6)
    return fail("PEP 427 names have 5 or 6 '-'-separated parts "
                "(name-version[-build]-python-abi-platform), this one has " +
                std::to_string(parts.size()));
  WheelName w;
  w.distribution = std::string(parts[0]);
  w.version = std::string(parts[1]);
  if (!AllTagChars(w.distribution) || !IsValidProjectName(w.distribution))
    return fail("the distribution '" + w.distribution +
                "' must be letters, digits, '_' and '.', starting and ending with a letter or digit");
  Version v;
  std::string verr;
  if (!AllTagChars(w.version) || !ParseVersion(w.version, &v, &verr))
    return fail("the version '" + w.version + "' is not a PEP 440 version");
  size_t tag = 2;
  if (parts.size() == 6) {
    w.build = std::string(parts[2]);
    if (!AllTagChars(w.build) || !(w.build[0] >= '0' && w.build[0] <= '9'))
      return fail("the build tag '" + w.build + "' must start with a digit");
    tag = 3;
  }
  w.python = std::string(parts[tag]);
  w.abi = std::string(parts[tag + 1]);
  w.platform = std::string(parts[tag + 2]);
  for (const auto* t : {&w.python, &w.abi, &w.platform})
    if (!AllTagChars(*t)) return fail("the tag '" + *t + "' must be letters, digits, '_' and '.'");
  *out = std::move(w);
  return true;
}

bool ReadWheelMetadata(const std::filesystem::path& wheel, std::string* metadata, std::string* err) {
  constexpr size_t kMaxEntries = 200000;
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), &archive_read_free);
  archive_read_support_format_zip_seekable(a.get());
  if (archive_read_open_filename(a.get(), wheel.c_str(), 1 << 16) != ARCHIVE_OK) {
    *err = "cannot open wheel " + wheel.string() + " as a zip: " +
           ArchiveError(a.get());
    return false;
  }
  std::string found_path, found;
  size_t entries = 0;
  archive_entry* entry = nullptr;
  for (;;) {
    int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      *err = "wheel " + wheel.string() + " is not a valid zip: " +
             ArchiveError(a.get());
      return false;
    }
    if (++entries > kMaxEntries) {
      *err = "wheel " + wheel.string() + " has more than " + std::to_string(kMaxEntries) + " entries";
      return false;
    }
    const char* name = archive_entry_pathname(entry);
    std::string path = name ? name : "";
    if (!IsMetadataEntry(path)) continue;
    if (!found_path.empty()) {
      *err = "wheel " + wheel.string() + " has two METADATA files: " + found_path + " and " + path;
      return false;
    }
    found_path = path;
    if (archive_entry_size_is_set(entry) &&
        archive_entry_size(entry) > static_cast<la_int64_t>(kMaxWheelMetadataBytes)) {
      *err = path + " in wheel " + wheel.string() + " is larger than " +
             std::to_string(kMaxWheelMetadataBytes) + " bytes";
      return false;
    }
    char buf[1 << 14];
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
      if (n < 0) {
        *err = "cannot read " + path + " in wheel " + wheel.string() + ": " +
               ArchiveError(a.get());
        return false;
      }
      if (n == 0) break;
      found.append(buf, static_cast<size_t>(n));
      if (found.size() > kMaxWheelMetadataBytes) {
        *err = path + " in wheel " + wheel.string() + " is larger than " +
               std::to_string(kMaxWheelMetadataBytes) + " bytes";
        return false;
      }
    }
  }
  if (found_path.empty()) {
    *err = "wheel " + wheel.string() + " has no <name>-<version>.dist-info/METADATA";
    return false;
  }
  *metadata = std::move(found);
  return true;
}

std::string MetadataField(std::string_view metadata, std::string_view field) {
  std::string value;
  bool in_field = false;
  size_t pos = 0;
  while (pos < metadata.size()) {
    size_t nl = metadata.find('\n', pos);
    std::string_view line =
        metadata.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? metadata.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the headers end; the description follows
    if (line[0] == ' ' || line[0] == '\t') {
      if (in_field) value += "\n" + std::string(line);
      continue;
    }
    if (in_field) break;
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && EqualsIgnoreCase(line.substr(0, colon), field)) {
      in_field = true;
      value = std::string(line.substr(colon + 1));
    }
  }
  size_t b = value.find_first_not_of(" \t\r\n"), e = value.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : value.substr(b, e - b + 1);
}

std::string AgreedWheelDigest(const std::vector<Vote>& votes, const std::vector<size_t>& agreeing,
                              bool established_only) {
  std::map<std::string, std::set<std::string>> accounts;  // digest -> accounts reporting it
  std::vector<size_t> counted = agreeing;
  if (established_only) {
    // Every established vote agreeing with the verdict counts, not only the
    // quorum kept: a wheel needs two established accounts behind its digest.
    counted.clear();
    const Vote* reference = !agreeing.empty() && agreeing[0] < votes.size() ? &votes[agreeing[0]] : nullptr;
    for (size_t i = 0; reference && i < votes.size(); ++i)
      if (votes[i].established && !votes[i].excluded && Compare(votes[i], *reference) != Difference::kResult)
        counted.push_back(i);
  }
  for (size_t i : counted)
    if (i < votes.size() && !votes[i].wheel_content_digest.empty() &&
        (!established_only || votes[i].established))
      accounts[votes[i].wheel_content_digest].insert(votes[i].account);
  std::string best;
  size_t support = 1;  // at least two accounts
  for (const auto& [digest, who] : accounts)
    if (who.size() > support) best = digest, support = who.size();
  return best;
}

bool OutcomePublishesWheel(Outcome outcome) {
  return outcome == Outcome::kPassed || outcome == Outcome::kTestsFailed ||
         outcome == Outcome::kNoTests || outcome == Outcome::kTestsUnrunnable;
}

std::string WheelPath(const WheelRecord& wheel) { return wheel.sha256 + "/" + wheel.filename; }

WheelIndex::WheelIndex(const Store& store, ArtifactStore& artifacts)
    : store_(store), artifacts_(artifacts) {}

namespace {

// Checks one upload against the verdict and the task; fills *out (without
// attestations) and *metadata. False with *why.
bool CheckUpload(const TaskRecord& task, const ResultPayload& p, const std::string& digest,
                 const ArtifactStore& artifacts, WheelRecord* out, std::string* metadata,
                 std::string* why) {
  WheelName name;
  if (!ParseWheelFilename(p.wheel_filename, &name, why)) return false;
  if (NormalizeProjectName(name.distribution) != task.project) {
    *why = "the wheel " + p.wheel_filename + " is of project '" +
           NormalizeProjectName(name.distribution) + "', not the task's '" + task.project + "'";
    return false;
  }
  if (!SameVersion(name.version, task.version)) {
    *why = "the wheel " + p.wheel_filename + " is of version " + name.version +
           ", not the task's " + task.version;
    return false;
  }
  if (!ArtifactStore::IsSha256(p.wheel_sha256)) {
    *why = "the result names no valid wheel sha256 ('" + Short(p.wheel_sha256, 80) + "')";
    return false;
  }
  std::filesystem::path path = artifacts.PathOf(p.wheel_sha256);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    *why = "the wheel was never uploaded (no artifact " + p.wheel_sha256 + ")";
    return false;
  }
  std::string sha, err;
  if (!Sha256File(path, &sha, &err)) {
    *why = "reading the upload: " + err;
    return false;
  }
  if (sha != p.wheel_sha256) {
    *why = "the stored bytes hash to " + sha + ", not " + p.wheel_sha256;
    return false;
  }
  std::string recomputed;
  if (!sandbox::WheelContentDigest(path, &recomputed, &err)) {
    *why = "computing its content digest: " + err;
    return false;
  }
  if (recomputed != digest) {
    *why = "its content digest, recomputed by the coordinator, is " + recomputed +
           " but the volunteers agreed on " + digest;
    return false;
  }
  if (!ReadWheelMetadata(path, metadata, &err)) {
    *why = err;
    return false;
  }
  std::string meta_name = MetadataField(*metadata, "Name");
  std::string meta_version = MetadataField(*metadata, "Version");
  if (NormalizeProjectName(meta_name) != task.project || !SameVersion(meta_version, task.version)) {
    *why = "its METADATA names " + Short(meta_name, 100) + " " + Short(meta_version, 50) +
           ", not " + task.project + " " + task.version;
    return false;
  }
  std::string requires_python = MetadataField(*metadata, "Requires-Python");
  if (requires_python.size() > 1024 || !IsValidUtf8(requires_python)) {
    *why = "its METADATA has a Requires-Python that is not short UTF-8 text";
    return false;
  }
  auto size = std::filesystem::file_size(path, ec);
  out->project = task.project;
  out->version = name.version;
  out->filename = p.wheel_filename;
  out->sha256 = p.wheel_sha256;
  out->size = ec ? 0 : static_cast<int64_t>(size);
  out->content_digest = digest;
  out->requires_python = requires_python;
  out->metadata_sha256 = Sha256Hex(*metadata);
  out->metadata_size = static_cast<int64_t>(metadata->size());
  out->uploaded_by = p.volunteer_id;
  return true;
}

}  // namespace

std::string WheelIndex::Publish(const VerdictEvent& e, WriteSet* writes) {
  const TaskRecord& task = e.task;
  const VerdictRecord& verdict = e.verdict;
  auto outcome = ParseOutcome(verdict.status);
  const std::string& digest = verdict.wheel_content_digest;
  if (!outcome || !OutcomePublishesWheel(*outcome) || digest.empty()) return "";

  // The agreeing results that reproduced the digest, and their accounts.
  std::vector<size_t> reproduced;
  WheelAttestation att;
  att.task_id = task.task_id;
  att.platform = task.platform;
  att.decided_at = verdict.decided_at;
  std::set<std::string> accounts;
  for (size_t i = 0; i < e.votes.size() && i < e.payloads.size(); ++i) {
    const Vote& v = e.votes[i];
    bool agreeing = std::find(verdict.agreeing_leases.begin(), verdict.agreeing_leases.end(),
                              v.lease_id) != verdict.agreeing_leases.end();
    if (!agreeing || v.wheel_content_digest != digest) continue;
    reproduced.push_back(i);
    att.volunteers.push_back(v.volunteer_id);
    if (accounts.insert(v.account).second) att.accounts.push_back(v.account);
  }
  if (accounts.size() < 2) {
    spdlog::warn("wheel index: task {} ({} {} on {}): only {} account(s) reproduced wheel digest "
                 "{}; not published",
                 task.task_id, task.project, task.version, task.platform, accounts.size(),
                 Short(digest, 16));
    return "";
  }

  for (size_t i : reproduced) {
    const ResultPayload& p = e.payloads[i];
    auto refuse = [&](const std::string& why) {
      spdlog::warn("wheel index: task {} ({} {} on {}): the wheel {} uploaded by volunteer {} is "
                   "not published: {}",
                   task.task_id, task.project, task.version, task.platform, p.wheel_filename,
                   Short(p.volunteer_id, 16), why);
    };
    WheelName name;
    std::string why;
    if (!ParseWheelFilename(p.wheel_filename, &name, &why)) {
      refuse(why);
      continue;
    }
    // One file per name: a later task vouches for the file already served
    // when its volunteers reproduced the same content.
    std::string key = Key({task.project, p.wheel_filename});
    nlohmann::json j;
    WheelRecord existing;
    if (store_.GetJson(Cf::kWheels, key, &j) && FromJson(j, &existing)) {
      if (existing.content_digest != digest) {
        refuse("the index already serves " + p.wheel_filename + " with content digest " +
               Short(existing.content_digest, 16) + " (from task " +
               (existing.attestations.empty() ? "?" : existing.attestations[0].task_id) +
               "); a different build under the same name is left out");
        return "";
      }
      bool known = false;
      for (const auto& a : existing.attestations) known = known || a.task_id == task.task_id;
      if (!known) existing.attestations.push_back(att);
      writes->PutJson(Cf::kWheels, key, nlohmann::json(existing));
      spdlog::info("wheel index: {} also reproduced by task {} on {}", p.wheel_filename,
                   task.task_id, task.platform);
      return p.wheel_filename;
    }
    WheelRecord rec;
    std::string metadata;
    if (!CheckUpload(task, p, digest, artifacts_, &rec, &metadata, &why)) {
      refuse(why);
      continue;
    }
    std::string code, detail;
    if (!artifacts_.Put(rec.metadata_sha256, metadata, &code, &detail)) {
      refuse("storing its METADATA: " + detail);
      continue;
    }
    rec.published_at = verdict.decided_at;
    rec.attestations.push_back(att);
    writes->PutJson(Cf::kWheels, key, nlohmann::json(rec));
    spdlog::info("wheel index: published {} (sha256 {}, {} bytes) for task {} on {}, reproduced by "
                 "{} accounts",
                 rec.filename, Short(rec.sha256, 12), rec.size, task.task_id, task.platform,
                 accounts.size());
    return rec.filename;
  }
  spdlog::warn("wheel index: task {} ({} {} on {}): no upload passed the checks; nothing published",
               task.task_id, task.project, task.version, task.platform);
  return "";
}

std::vector<std::string> WheelIndex::Projects() const {
  // Keys are <project>\0<filename>: after finding a project, seek past all
  // of its keys (<project>\1 sorts after them) instead of visiting each.
  std::vector<std::string> out;
  std::string start;
  for (;;) {
    std::string found;
    store_.Scan(Cf::kWheels, "", start, [&](std::string_view key, std::string_view) {
      found = std::string(key.substr(0, key.find('\0')));
      return false;
    });
    if (found.empty()) break;
    out.push_back(found);
    start = found + '\x01';
  }
  return out;
}

std::vector<WheelRecord> WheelIndex::Wheels(const std::string& project) const {
  std::vector<WheelRecord> out;
  store_.Scan(Cf::kWheels, Key({project, ""}), "", [&](std::string_view, std::string_view value) {
    WheelRecord r;
    if (FromJson(ParseJsonOrDiscarded(value), &r)) out.push_back(std::move(r));
    return true;
  });
  std::stable_sort(out.begin(), out.end(), [](const WheelRecord& a, const WheelRecord& b) {
    if (!SameVersion(a.version, b.version)) return VersionLess(a.version, b.version);
    return a.filename < b.filename;
  });
  return out;
}

bool WheelIndex::FindWheel(const std::string& filename, WheelRecord* out) const {
  WheelName name;
  std::string err;
  if (!ParseWheelFilename(filename, &name, &err)) return false;
  return parsed_.Get(store_, Key({NormalizeProjectName(name.distribution), filename}), out);
}

std::map<std::string, int> UnpublishTasks(const Store& store, const std::set<std::string>& task_ids,
                                          WriteSet* writes) {
  std::map<std::string, int> touched;
  std::set<std::string> projects;
  for (const auto& id : task_ids) {
    nlohmann::json j;
    TaskRecord task;
    if (store.GetJson(Cf::kTasks, id, &j) && FromJson(j, &task)) projects.insert(task.project);
  }
  for (const auto& project : projects) {
    store.Scan(Cf::kWheels, Key({project, ""}), "", [&](std::string_view key, std::string_view value) {
      WheelRecord r;
      if (!FromJson(ParseJsonOrDiscarded(value), &r)) return true;
      auto it = std::remove_if(r.attestations.begin(), r.attestations.end(), [&](const WheelAttestation& a) {
        if (!task_ids.count(a.task_id)) return false;
        ++touched[a.task_id];
        return true;
      });
      if (it == r.attestations.end()) return true;
      r.attestations.erase(it, r.attestations.end());
      if (r.attestations.empty()) {
        writes->Delete(Cf::kWheels, key);
        spdlog::warn("wheel index: {} withdrawn from /simple/: the verdicts that vouched for it were reopened",
                     r.filename);
      } else {
        writes->PutJson(Cf::kWheels, key, nlohmann::json(r));
      }
      return true;
    });
  }
  return touched;
}

}  // namespace corral::coordinator
