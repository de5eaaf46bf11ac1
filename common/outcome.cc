#include "common/outcome.h"

#include <array>
#include <utility>

namespace corral {
namespace {

constexpr std::array<std::pair<Outcome, std::string_view>, 11> kNames = {{
    {Outcome::kPassed, "passed"},
    {Outcome::kTestsFailed, "tests_failed"},
    {Outcome::kNoTests, "no_tests"},
    {Outcome::kTestsUnrunnable, "tests_unrunnable"},
    {Outcome::kImportFailed, "import_failed"},
    {Outcome::kInstallFailed, "install_failed"},
    {Outcome::kBuildFailed, "build_failed"},
    {Outcome::kUnsupported, "unsupported"},
    {Outcome::kTimeout, "timeout"},
    {Outcome::kResourceExhausted, "resource_exhausted"},
    {Outcome::kInfraError, "infra_error"},
}};

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  for (const auto& [o, name] : kNames)
    if (o == outcome) return name;
  return "infra_error";
}

std::optional<Outcome> ParseOutcome(std::string_view name) {
  for (const auto& [o, n] : kNames)
    if (n == name) return o;
  return std::nullopt;
}

bool IsSpurious(Outcome outcome) { return outcome == Outcome::kInfraError; }

bool IsWorkingStatus(std::string_view s) { return s == "passed" || s == "no_tests" || s == "tests_unrunnable"; }

}  // namespace corral
