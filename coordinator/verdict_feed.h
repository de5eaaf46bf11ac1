// What the Atom feeds publish (DESIGN.md section 7): the newest verdicts,
// site-wide or of one project, each marked when it is a regression, that is
// a version that fails on a platform where the version before it (PEP 440
// order) passed. Read only.
//
// Only verdicts reached by volunteers are news: "unsupported" cells, which
// the coordinator decides from Requires-Python without building, are left
// out. A verdict withdrawn because a volunteer that helped decide it was
// caught lying is news too: the site-wide feed has an entry of status
// "withdrawn" at the time it was withdrawn, naming the verdict and the
// wheels taken off /simple/ with it.
#pragma once

#include "common/outcome.h"  // IsWorkingStatus

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "coordinator/matrix.h"

namespace corral::coordinator {

class Store;

struct FeedEntry {
  std::string task_id, project, version, platform, status, summary;
  int agreeing = 0;
  int64_t decided_at = 0;
  // The nearest older version with a verdict on the same platform ("" when
  // there is none), and that verdict.
  std::string previous_version, previous_status;
  bool regression = false;  // status fails where previous_status worked
  // A withdrawal (status "withdrawn", decided_at the time of withdrawal):
  // the verdict withdrawn, when it had been decided, and the wheels taken
  // off /simple/ with it.
  std::string withdrawn_status;
  int64_t withdrawn_decided_at = 0;
  int wheels_withdrawn = 0;
};

// The verdict_times value that records a withdrawal (store.h), written by
// the verifier with the reopening (verifier.cc, Engine::Suspend).
std::string WithdrawalFeedValue(const std::string& status, int64_t decided_at, int wheels_withdrawn);

// The outcomes that blame the package: tests_failed, import_failed,
// install_failed, build_failed, timeout, resource_exhausted.
bool IsFailingStatus(const std::string& status);

// Fills entry->previous_* from `m` (the entry's project): the nearest version
// older than entry->version whose cell on entry->platform is a verdict other
// than inconclusive (pending cells are skipped), and sets entry->regression.
void MarkRegression(const Matrix& m, FeedEntry* entry);

// The newest `limit` verdicts and withdrawals across all projects, newest
// first, read from the verdict_times index (no scan of the verdicts),
// regressions marked. An entry whose records cannot be read is skipped.
std::vector<FeedEntry> RecentVerdicts(const Store& store, size_t limit);

// The newest `limit` verdicts of project `name` (normalised), newest first,
// regressions marked. Empty when the project is unknown.
std::vector<FeedEntry> ProjectVerdicts(const Store& store, const std::string& name, size_t limit);

}  // namespace corral::coordinator
