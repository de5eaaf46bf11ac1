// The demo corpus: a handful of small, real Python packages whose behaviour
// on each platform is known in advance, written as sdists that the local
// index serves and volunteers really build and test. Each package exists to
// make one outcome happen for a real reason (a PyPy-only test failure, a
// missing header, a packaging mistake, a Requires-Python bound), so that a
// demo run shows every kind of verdict and a test can check that the network
// reached the right one.
//
// Next to the sdists, expected.json states each package's known behaviour as
// data: an ordered list of rules, the first whose conditions hold giving the
// outcome on a platform.
//
//   {"packages": [{"project": "corral-demo-refcount", "version": "1.0.0",
//                  "file": "corral_demo_refcount-1.0.0.tar.gz",
//                  "behaviour": "...",
//                  "rules": [{"when": {"implementation": "pypy"},
//                             "outcome": "tests_failed"},
//                            {"outcome": "passed"}]}]}
//
// Rule conditions ("when", all must hold; absent means always):
//   implementation   "cpython" or "pypy" (Platform::implementation)
//   python_below     "3.8": the platform's X.Y is lower
//   python_at_least  "3.8": the platform's X.Y is the same or higher
//   has_headers      true/false (Platform::has_headers)
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/platform.h"

namespace corral {

// One line of a package's expected behaviour: when every condition that is
// set holds for a platform, the package's outcome there is `outcome`.
struct ExpectedRule {
  std::optional<std::string> implementation;   // "cpython" / "pypy"
  std::optional<std::string> python_below;     // "X.Y"
  std::optional<std::string> python_at_least;  // "X.Y"
  std::optional<bool> has_headers;
  std::string outcome;  // an OutcomeName() word, checked when loaded

  // True when every condition that is set holds for `platform`.
  bool Matches(const Platform& platform) const;
};

// One release of the corpus, as expected.json records it.
struct ExpectedPackage {
  std::string project;    // display name, "corral-demo-pure"
  std::string version;    // "1.0.0"
  std::string file;       // the sdist's file name inside the corpus folder
  std::string behaviour;  // one or two sentences: why it behaves as it does
  std::vector<ExpectedRule> rules;  // first match wins; the last has no condition
};

// Writes every sdist of the corpus and expected.json into `dir` (created if
// missing; files of the same names are replaced). The archives are
// deterministic: two calls write byte-identical files, whose modification
// times are set to each release's fixed date (the index reports them as the
// upload time). Returns false with *err naming the file and the reason.
bool WriteDemoCorpus(const std::filesystem::path& dir, std::string* err);

// The demo's index refuses (503) the first this many requests for
// kFlakyIndexProject's page, as an index in maintenance would: the
// corral-demo-flaky package shows that a failing index is infra_error
// (never a verdict) and that the retried task gets the right one.
inline constexpr int kFlakyIndexRefusals = 8;
inline constexpr const char kFlakyIndexProject[] = "corral-demo-flakylib";

// Copies into `dir` the build tools already on this machine, as wheels the
// local index can serve to sandboxes that have no other source: Debian's
// /usr/share/python-wheels/*.whl (but its patched setuptools, which breaks
// builds on every interpreter but Debian's own) and every pyenv interpreter's
// lib/python*/ensurepip/_bundled/*.whl (pyenv root: $PYENV_ROOT, else
// ~/.pyenv, else /root/.pyenv). The first file found of each name wins; a
// file already in `dir` is kept. Nothing is downloaded. Finding no wheel at
// all is not an error. Returns false with *err on an I/O error.
bool CopyBuildToolWheels(const std::filesystem::path& dir, std::string* err);

// Reads expected.json (`path` may also be the folder holding it). Returns
// false with *err naming the file and the entry that is wrong: unknown
// condition, unknown outcome word, missing field.
bool LoadExpected(const std::filesystem::path& path, std::vector<ExpectedPackage>* out,
                  std::string* err);

// The outcome word the first matching rule gives on `platform`, or "" when
// no rule matches (a corpus whose last rule is unconditional never does).
std::string ExpectedOutcome(const ExpectedPackage& package, const Platform& platform);

}  // namespace corral
