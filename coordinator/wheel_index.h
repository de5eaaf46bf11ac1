// The download index of built wheels (DESIGN.md section 7): which wheels
// Corral publishes at /simple/, and the checks that put them there.
//
// A wheel is published when a verdict is stored whose agreeing results, from
// at least two distinct accounts, report the same wheel content digest. The
// coordinator then picks one of those results' uploads and checks it itself:
// the stored bytes hash to the sha256 the result names, the content digest
// recomputed from them (sandbox/wheel_digest.h) is the agreed one, the file
// name is a valid PEP 427 name of the task's project and version, and
// *.dist-info/METADATA can be read (it is stored as an artifact too, for
// PEP 658). An upload failing any check is logged with the task and the
// volunteer and never published; the next agreeing upload is tried.
//
// Several tasks may vouch for one file name (a py2.py3-none-any wheel is
// built on every platform): the first verified upload is served, later
// tasks whose digest matches it are added to its attestations, and a task
// with a different digest for the same name is logged and left out (an
// index cannot offer two files of one name).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/outcome.h"
#include "coordinator/parsed_cache.h"
#include "coordinator/quorum.h"
#include "coordinator/store.h"

namespace corral {
struct ResultPayload;
}

namespace corral::coordinator {

class ArtifactStore;
struct TaskRecord;
struct VerdictRecord;

// One task whose agreeing volunteers reproduced a published wheel.
struct WheelAttestation {
  std::string task_id, platform;
  std::vector<std::string> volunteers, accounts;  // those whose digest agreed
  int64_t decided_at = 0;
};

// A published wheel: one file of /simple/<project>/, stored under
// wheels <project>\0<filename>.
struct WheelRecord {
  std::string project;          // normalised (PEP 503)
  std::string version;          // as the file name spells it
  std::string filename;
  std::string sha256;           // of the file; it is the artifact of that name
  int64_t size = 0;
  std::string content_digest;   // the digest the volunteers agreed on
  std::string requires_python;  // from METADATA; "" when it has none
  std::string metadata_sha256;  // of *.dist-info/METADATA, also an artifact
  int64_t metadata_size = 0;
  int64_t published_at = 0;     // unix seconds
  std::string uploaded_by;      // the volunteer whose upload is served
  std::vector<WheelAttestation> attestations;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(WheelAttestation, task_id, platform, volunteers,
                                                accounts, decided_at)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(WheelRecord, project, version, filename, sha256,
                                                size, content_digest, requires_python,
                                                metadata_sha256, metadata_size, published_at,
                                                uploaded_by, attestations)

// The parts of a PEP 427 file name:
// {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl
struct WheelName {
  std::string distribution, version, build, python, abi, platform;
};

// Parses and checks a wheel file name: five or six '-'-separated parts, a
// distribution of letters, digits, '_' and '.', a PEP 440 version, a build
// tag starting with a digit, non-empty tags of [A-Za-z0-9_.], no path
// characters. False with *err saying which part is wrong.
bool ParseWheelFilename(std::string_view filename, WheelName* out, std::string* err);

// The largest METADATA file read from a wheel.
inline constexpr size_t kMaxWheelMetadataBytes = 4u << 20;

// Reads <distribution>-<version>.dist-info/METADATA from a wheel (a zip, read
// with libarchive): the one top-level *.dist-info/METADATA entry. False with
// *err when the zip is unreadable, has none or several, or the file exceeds
// kMaxWheelMetadataBytes.
bool ReadWheelMetadata(const std::filesystem::path& wheel, std::string* metadata,
                       std::string* err);

// The value of the first `field` header of a core metadata file (RFC 822
// style, continuation lines joined), with surrounding spaces trimmed; ""
// when absent. Field names compare case-insensitively.
std::string MetadataField(std::string_view metadata, std::string_view field);

// The wheel content digest that at least two of the agreeing votes, from
// distinct accounts, report; "" when no digest has that much support.
// `agreeing` indexes `votes`. `established_only` (QuorumPolicy::
// require_established): only established votes count, every one that agrees
// with the verdict (not only the quorum kept), so a wheel reaches /simple/
// only when two established accounts reproduced its digest.
std::string AgreedWheelDigest(const std::vector<Vote>& votes, const std::vector<size_t>& agreeing,
                              bool established_only = false);

// Whether a verdict with this outcome publishes its wheel: the wheel built,
// installed and imported (passed, tests_failed, no_tests). A wheel that does
// not import or install is known broken and is not offered.
bool OutcomePublishesWheel(Outcome outcome);

// A verdict as the Engine stores it, for what follows from it.
struct VerdictEvent {
  const TaskRecord& task;
  const VerdictRecord& verdict;
  const std::vector<Vote>& votes;              // every stored result of the task...
  const std::vector<ResultPayload>& payloads;  // ...and its payload, same order
};

class WheelIndex {
 public:
  // `store` is the coordinator's (read here; writes go into the verdict's
  // write set); `artifacts` holds the uploads and receives METADATA files.
  WheelIndex(const Store& store, ArtifactStore& artifacts);
  WheelIndex(const WheelIndex&) = delete;
  WheelIndex& operator=(const WheelIndex&) = delete;

  // Publishes the wheel of a verdict, if it has one (see the file comment),
  // by adding its record to `writes`, the set that stores the verdict, so
  // both commit together. Stores the METADATA artifact at once (content-
  // addressed, harmless if the verdict write then fails). Returns the
  // published file name, or "" when nothing was published (the reason is
  // logged). The caller serialises calls (the Engine's lock).
  std::string Publish(const VerdictEvent& event, WriteSet* writes);

  // Read side, safe from any thread.
  // Normalised names of the projects with at least one published wheel.
  std::vector<std::string> Projects() const;
  // A project's wheels, by version (PEP 440) then file name.
  std::vector<WheelRecord> Wheels(const std::string& project) const;
  // The wheel published under `filename`; false when there is none. Always
  // what the store holds now; the record is parsed again only when its
  // stored bytes changed since the last call (every download asks).
  bool FindWheel(const std::string& filename, WheelRecord* out) const;

 private:
  const Store& store_;
  ArtifactStore& artifacts_;
  mutable ParsedRecordCache<WheelRecord> parsed_{Cf::kWheels};
};

// Withdraws the attestations of the tasks `task_ids` (their verdicts were
// reopened, Engine::SetReopenObserver): adds to `writes` each wheel record
// they touch, rewritten once without them, and deletes those no other task
// vouches for. Returns, per task id, the wheels it vouched for (absent: none,
// or the task is unknown). Reads the store; changes nothing but `writes`.
std::map<std::string, int> UnpublishTasks(const Store& store, const std::set<std::string>& task_ids,
                                          WriteSet* writes);

// The path under /wheels/ that serves a wheel, stable for its content:
// "<sha256>/<filename>"; its PEP 658 metadata is the same plus ".metadata".
std::string WheelPath(const WheelRecord& wheel);

}  // namespace corral::coordinator
