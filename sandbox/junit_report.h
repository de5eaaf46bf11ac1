// Reading test results written inside the sandbox (DESIGN.md section 5,
// phase 4). The file is untrusted: its size is capped before parsing.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "common/protocol.h"

namespace corral::sandbox {

// Counts and failing ids from one JUnit XML report (pytest's or the
// runner's unittest writer). A testcase the runner marked flaky="true"
// (failed, then passed when run again) counts as flaky, never as failed.
struct JUnitSummary {
  int passed = 0, failed = 0, errors = 0, skipped = 0, flaky = 0;
  std::vector<std::string> failing;  // "classname.name", sorted, unique; failures and errors
  std::vector<std::string> flaky_ids;  // sorted, unique
  // The first kMaxFirstFailures failures in report order, with the
  // message and traceback (cut to kMaxTestEvidenceText bytes, valid UTF-8).
  std::vector<TestFailure> first_failures;

  int total() const { return passed + failed + errors + skipped + flaky; }
};

// Parses `path` (pugixml), accepting <testsuites> or a bare <testsuite> and
// nested suites. A test id is "classname.name" (just "name" without a
// classname). Returns false with *err when the file is missing, larger than
// `max_bytes`, or not well-formed XML.
bool ParseJUnit(const std::filesystem::path& path, size_t max_bytes, JUnitSummary* out,
                std::string* err);
// Same, from text already in memory.
bool ParseJUnitText(const std::string& xml, JUnitSummary* out, std::string* err);

}  // namespace corral::sandbox
