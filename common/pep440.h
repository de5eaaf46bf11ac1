// PEP 440 versions and version specifiers. The coordinator decides from a
// release's Requires-Python whether a platform can run it at all (outcome
// "unsupported" without building), and orders a project's versions newest
// first for the matrix and the lookup; both must agree with what pip does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace corral {

// One parsed PEP 440 version: [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local].
// It exists so that versions are compared by their meaning ("1.0" == "1.0.0",
// "1.0.dev0" < "1.0a1" < "1.0" < "1.0.post1") and not by their spelling.
// Plain data: copy freely. Numbers above 2^64-1 are rejected by ParseVersion.
struct Version {
  enum class Pre { kNone, kAlpha, kBeta, kRc };  // "a", "b", "rc"

  uint64_t epoch = 0;
  std::vector<uint64_t> release;  // never empty once parsed
  Pre pre = Pre::kNone;
  uint64_t pre_number = 0;        // meaningful only when pre != kNone
  std::optional<uint64_t> post;
  std::optional<uint64_t> dev;
  // Local label segments, lower case; all-digit segments without leading
  // zeros ("+ubuntu.01" -> {"ubuntu", "1"}). Empty when there is no label.
  std::vector<std::string> local;

  // A pre-release or a development release (PEP 440 treats both as such).
  bool IsPrerelease() const { return pre != Pre::kNone || dev.has_value(); }
  bool IsPostrelease() const { return post.has_value(); }
  // The version without its local label ("1.0+abc" -> "1.0").
  Version Public() const;
  // Epoch and release only ("1!2.0rc1.post3" -> "1!2.0").
  Version Base() const;
};

// Parses `text` with PEP 440's normalisation rules: surrounding whitespace,
// any letter case, a leading "v", "alpha"/"beta"/"c"/"pre"/"preview" for
// a/b/rc, "rev"/"r" for post, "-", "_" or "." (or nothing) as separators,
// implicit numbers ("1.0a" == "1.0a0", "1.0.post" == "1.0.post0") and the
// implicit post release "1.0-1". On success fills *out and returns true; on
// failure returns false and says in *err what was wrong with `text`.
bool ParseVersion(std::string_view text, Version* out, std::string* err);

// PEP 440's total order: <0 when a sorts before b, 0 when equal, >0 after.
// Trailing zeros of the release do not count ("1.0" == "1"); within one
// release dev < pre (a < b < rc) < final < post; a local label sorts after the
// same public version without one, numeric local segments after alphabetic.
int CompareVersions(const Version& a, const Version& b);

// The canonical spelling: "1!2.0rc1.post3.dev4+ubuntu.1"; epoch 0 omitted,
// release segments as given (trailing zeros kept: "1.0" stays "1.0").
std::string NormalizeVersion(const Version& v);

// Sets *contains to whether `version` satisfies `specifier`, a comma-separated
// set of clauses (~=, ==, !=, <=, >=, <, >, ===, ==X.*, !=X.*), as
// Requires-Python is written. An empty or all-blank specifier contains every
// version. The version is treated as one already installed (an interpreter),
// so pre-releases are not excluded wholesale; the exclusive comparisons keep
// PEP 440's rules: "<V" rejects pre-releases of V unless V is one, ">V"
// rejects post-releases of V unless V is one, and local versions of V.
// Returns false and fills *err (naming the clause, or the version) when the
// specifier or the version is malformed; *contains is then left unchanged.
bool SpecifierContains(const std::string& specifier, const std::string& version,
                       bool* contains, std::string* err);

}  // namespace corral
