// The outcome of building and testing one task on one platform (DESIGN.md
// section 2). It is the word every component uses: the sandbox decides it,
// the volunteer signs it, the verifier compares it, the site shows it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace corral {

enum class Outcome {
  kPassed,             // built, installed, imported, tests passed
  kTestsFailed,        // built, installed, imported; some test failed
  kNoTests,            // built, installed, imported; no test suite found
  // built, installed, imported; a suite exists but none of it could run
  // here (its test libraries are not on the index): a weak yes, like no_tests
  kTestsUnrunnable,
  kImportFailed,       // built and installed; a top-level module did not import
  kInstallFailed,      // built; the wheel did not install
  kBuildFailed,        // the PEP 517 build did not produce a wheel
  kUnsupported,        // Requires-Python excludes the platform; never built
  kTimeout,            // wall-clock or no-output limit reached
  kResourceExhausted,  // memory, disk, processes or output limit reached
  kInfraError,         // the volunteer's fault, not the package's: retried
};

// "passed", "tests_failed", ... as in the protocol.
std::string_view OutcomeName(Outcome outcome);
// The inverse of OutcomeName; nullopt for an unknown word.
std::optional<Outcome> ParseOutcome(std::string_view name);

// Deterministic outcomes can become verdicts; infra_error never does, and
// timeout/resource_exhausted are retried before they count.
bool IsSpurious(Outcome outcome);

// Whether a cell's status word says the package works there: passed, and
// the weak yeses no_tests and tests_unrunnable (built, installed, imported).
bool IsWorkingStatus(std::string_view status);

}  // namespace corral
