#include "common/pep440.h"

#include <array>
#include <cctype>
#include <utility>

namespace corral {
namespace {

bool IsSep(char c) { return c == '-' || c == '_' || c == '.'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLowerAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z'); }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Matches the lower-cased text against PEP 440's permissive grammar (the
// regular expression of its appendix) by trying the alternatives of each
// optional part in the order a backtracking regex engine would, so that
// spellings such as "1.0a.dev1" or "1.0-r" resolve exactly as pip resolves
// them. Each stage fills its fields of *v and hands over to the next stage.
class Matcher {
 public:
  Matcher(const std::string& s, Version* v) : s_(s), v_(v) {}

  bool Match() {
    size_t p = 0;
    if (p < s_.size() && s_[p] == 'v') ++p;
    size_t end;
    uint64_t n;
    if (!Number(p, &end, &n)) return false;
    if (end < s_.size() && s_[end] == '!') {
      v_->epoch = n;
      p = end + 1;
      if (!Number(p, &end, &n)) return false;
    }
    v_->release.push_back(n);
    p = end;
    while (p + 1 < s_.size() && s_[p] == '.' && Number(p + 1, &end, &n)) {
      v_->release.push_back(n);
      p = end;
    }
    return Pre(p);
  }

  bool overflow() const { return overflow_; }

 private:
  // One or more digits at p; sets *end past them and *value.
  bool Number(size_t p, size_t* end, uint64_t* value) {
    size_t q = p;
    uint64_t n = 0;
    while (q < s_.size() && IsDigit(s_[q])) {
      uint64_t digit = static_cast<uint64_t>(s_[q] - '0');
      if (n > (UINT64_MAX - digit) / 10) overflow_ = true;
      n = n * 10 + digit;
      ++q;
    }
    if (q == p) return false;
    *end = q;
    *value = n;
    return true;
  }

  // The positions an optional separator at p allows, preferred first.
  std::array<size_t, 2> SepOptions(size_t p, size_t* count) const {
    if (p < s_.size() && IsSep(s_[p])) {
      *count = 2;
      return {p + 1, p};
    }
    *count = 1;
    return {p, p};
  }

  bool StartsWith(size_t p, std::string_view word) const {
    return s_.compare(p, word.size(), word) == 0;
  }

  // [sep] label [sep] [number] for one of `labels`, then `next`. The number
  // defaults to 0 when absent.
  template <typename Label, size_t N, typename Set, typename Next>
  bool Tagged(size_t p, const std::array<std::pair<std::string_view, Label>, N>& labels,
              Set set, Next next) {
    size_t n_outer;
    auto outer = SepOptions(p, &n_outer);
    for (size_t i = 0; i < n_outer; ++i) {
      size_t q = outer[i];
      for (const auto& [word, label] : labels) {
        if (!StartsWith(q, word)) continue;
        size_t r = q + word.size(), n_inner;
        auto inner = SepOptions(r, &n_inner);
        for (size_t j = 0; j < n_inner; ++j) {
          size_t t = inner[j], end;
          uint64_t number;
          if (Number(t, &end, &number)) {
            set(label, number);
            if (next(end)) return true;
          }
          set(label, 0);
          if (next(t)) return true;
        }
      }
    }
    return false;
  }

  bool Pre(size_t p) {
    static constexpr std::array<std::pair<std::string_view, Version::Pre>, 8> kLabels = {{
        {"alpha", Version::Pre::kAlpha},
        {"a", Version::Pre::kAlpha},
        {"beta", Version::Pre::kBeta},
        {"b", Version::Pre::kBeta},
        {"preview", Version::Pre::kRc},
        {"pre", Version::Pre::kRc},
        {"c", Version::Pre::kRc},
        {"rc", Version::Pre::kRc},
    }};
    auto set = [this](Version::Pre kind, uint64_t n) {
      v_->pre = kind;
      v_->pre_number = n;
    };
    if (Tagged(p, kLabels, set, [this](size_t q) { return Post(q); })) return true;
    set(Version::Pre::kNone, 0);
    return Post(p);
  }

  bool Post(size_t p) {
    size_t end;
    uint64_t n;
    if (p < s_.size() && s_[p] == '-' && Number(p + 1, &end, &n)) {  // "1.0-1"
      v_->post = n;
      if (Dev(end)) return true;
    }
    static constexpr std::array<std::pair<std::string_view, int>, 3> kLabels = {{
        {"post", 0}, {"rev", 0}, {"r", 0}}};
    auto set = [this](int, uint64_t number) { v_->post = number; };
    if (Tagged(p, kLabels, set, [this](size_t q) { return Dev(q); })) return true;
    v_->post.reset();
    return Dev(p);
  }

  bool Dev(size_t p) {
    static constexpr std::array<std::pair<std::string_view, int>, 1> kLabels = {{{"dev", 0}}};
    auto set = [this](int, uint64_t number) { v_->dev = number; };
    if (Tagged(p, kLabels, set, [this](size_t q) { return Local(q); })) return true;
    v_->dev.reset();
    return Local(p);
  }

  // ["+" segment ([-_.] segment)*] and the end of the text.
  bool Local(size_t p) {
    v_->local.clear();
    if (p == s_.size()) return true;
    if (s_[p] != '+') return false;
    std::vector<std::string> segments(1);
    for (size_t q = p + 1; q < s_.size(); ++q) {
      char c = s_[q];
      if (IsSep(c)) {
        if (segments.back().empty()) return false;
        segments.emplace_back();
      } else if (IsLowerAlnum(c)) {
        segments.back().push_back(c);
      } else {
        return false;
      }
    }
    if (segments.back().empty()) return false;
    for (std::string& seg : segments) {
      bool numeric = true;
      for (char c : seg) numeric = numeric && IsDigit(c);
      if (!numeric) continue;
      size_t zeros = seg.find_first_not_of('0');
      seg = zeros == std::string::npos ? "0" : seg.substr(zeros);
    }
    v_->local = std::move(segments);
    return true;
  }

  const std::string& s_;
  Version* v_;
  bool overflow_ = false;
};

int Cmp(uint64_t a, uint64_t b) { return a < b ? -1 : a > b ? 1 : 0; }

// Where the pre-release part puts a version within its release: a lone dev
// release first, then a, b, rc, then everything without a pre-release.
int PreRank(const Version& v) {
  switch (v.pre) {
    case Version::Pre::kAlpha: return 1;
    case Version::Pre::kBeta: return 2;
    case Version::Pre::kRc: return 3;
    case Version::Pre::kNone: break;
  }
  return (!v.post && v.dev) ? 0 : 4;
}

bool IsNumeric(const std::string& seg) {
  for (char c : seg)
    if (!IsDigit(c)) return false;
  return !seg.empty();
}

// Numeric local segments sort after alphabetic ones and among themselves by
// value (they carry no leading zeros, so length first is value order).
int CompareLocalSegment(const std::string& a, const std::string& b) {
  bool na = IsNumeric(a), nb = IsNumeric(b);
  if (na != nb) return na ? 1 : -1;
  if (na && a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int c = a.compare(b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

// Epoch equal and the release, padded with zeros, starting with `prefix`.
bool ReleaseHasPrefix(const Version& v, uint64_t epoch, const std::vector<uint64_t>& prefix) {
  if (v.epoch != epoch) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    uint64_t part = i < v.release.size() ? v.release[i] : 0;
    if (part != prefix[i]) return false;
  }
  return true;
}

enum class Op { kCompatible, kEqual, kNotEqual, kLessEqual, kGreaterEqual, kLess, kGreater,
                kArbitrary };

// One parsed clause of a specifier set, e.g. ">=3.8" or "==3.11.*".
struct Clause {
  Op op = Op::kEqual;
  Version version;
  bool wildcard = false;
  std::string text;  // the version as written, lower case; for ===
};

bool ParseClause(std::string_view clause, Clause* out, std::string* why) {
  static constexpr std::array<std::pair<std::string_view, Op>, 8> kOps = {{
      {"===", Op::kArbitrary}, {"~=", Op::kCompatible}, {"==", Op::kEqual},
      {"!=", Op::kNotEqual}, {"<=", Op::kLessEqual}, {">=", Op::kGreaterEqual},
      {"<", Op::kLess}, {">", Op::kGreater},
  }};
  Clause c;
  std::string_view rest;
  bool found = false;
  for (const auto& [word, op] : kOps) {
    if (clause.substr(0, word.size()) == word) {
      c.op = op;
      rest = Trim(clause.substr(word.size()));
      found = true;
      break;
    }
  }
  if (!found) {
    *why = "it does not start with an operator (one of ~= == != <= >= < > ===)";
    return false;
  }
  if (rest.empty()) {
    *why = "the operator has no version after it";
    return false;
  }
  if (c.op == Op::kArbitrary) {
    for (char ch : rest) {
      if (std::isspace(static_cast<unsigned char>(ch)) || ch == ';' || ch == ')') {
        *why = "'===' takes one version without spaces, ';' or ')'";
        return false;
      }
    }
    c.text = Lower(rest);
    *out = std::move(c);
    return true;
  }
  if (rest.size() >= 2 && rest.substr(rest.size() - 2) == ".*") {
    if (c.op != Op::kEqual && c.op != Op::kNotEqual) {
      *why = "a '.*' wildcard is only allowed with == and !=";
      return false;
    }
    c.wildcard = true;
    rest.remove_suffix(2);
  }
  std::string verr;
  if (!ParseVersion(rest, &c.version, &verr)) {
    *why = verr;
    return false;
  }
  const Version& v = c.version;
  if (c.wildcard && (v.pre != Version::Pre::kNone || v.post || v.dev || !v.local.empty())) {
    *why = "a '.*' wildcard may only follow a release such as 3.11 (no pre, post, dev or "
           "local part)";
    return false;
  }
  if (!v.local.empty() && c.op != Op::kEqual && c.op != Op::kNotEqual) {
    *why = "a local version label (+...) is only allowed with == and !=";
    return false;
  }
  if (c.op == Op::kCompatible && v.release.size() < 2) {
    *why = "'~=' needs at least two release segments (~=3.8, not ~=3)";
    return false;
  }
  *out = std::move(c);
  return true;
}

bool ClauseContains(const Clause& c, const Version& v) {
  switch (c.op) {
    case Op::kArbitrary:
      return false;  // decided on the text by the caller
    case Op::kEqual:
    case Op::kNotEqual: {
      bool equal;
      if (c.wildcard)
        equal = ReleaseHasPrefix(v, c.version.epoch, c.version.release);
      else if (!c.version.local.empty())
        equal = CompareVersions(v, c.version) == 0;
      else
        equal = CompareVersions(v.Public(), c.version) == 0;
      return c.op == Op::kEqual ? equal : !equal;
    }
    case Op::kCompatible: {
      std::vector<uint64_t> prefix(c.version.release.begin(), c.version.release.end() - 1);
      return CompareVersions(v.Public(), c.version) >= 0 &&
             ReleaseHasPrefix(v, c.version.epoch, prefix);
    }
    case Op::kLessEqual:
      return CompareVersions(v.Public(), c.version) <= 0;
    case Op::kGreaterEqual:
      return CompareVersions(v.Public(), c.version) >= 0;
    case Op::kLess:
      if (CompareVersions(v, c.version) >= 0) return false;
      // "<3.1" must not admit 3.1.dev0 or 3.1a1, though they sort below 3.1.
      if (!c.version.IsPrerelease() && v.IsPrerelease() &&
          CompareVersions(v.Base(), c.version.Base()) == 0)
        return false;
      return true;
    case Op::kGreater:
      if (CompareVersions(v, c.version) <= 0) return false;
      // ">3.6" must not admit 3.6.post1 or 3.6+local, though they sort above.
      if (!c.version.IsPostrelease() && v.IsPostrelease() &&
          CompareVersions(v.Base(), c.version.Base()) == 0)
        return false;
      if (!v.local.empty() && CompareVersions(v.Base(), c.version.Base()) == 0) return false;
      return true;
  }
  return false;
}

}  // namespace

Version Version::Public() const {
  Version v = *this;
  v.local.clear();
  return v;
}

Version Version::Base() const {
  Version v;
  v.epoch = epoch;
  v.release = release;
  return v;
}

bool ParseVersion(std::string_view text, Version* out, std::string* err) {
  std::string s = Lower(Trim(text));
  auto fail = [&](const std::string& why) {
    *err = "'" + std::string(text) + "' is not a PEP 440 version: " + why;
    return false;
  };
  if (s.empty()) return fail("it is empty (expected e.g. 1.0, 2.1.3rc1, 1!2.0.post1.dev3+local)");
  Version v;
  Matcher m(s, &v);
  if (!m.Match())
    return fail("expected [N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local], e.g. 1.0, 2.1.3rc1, "
                "1!2.0.post1.dev3+local");
  if (m.overflow()) return fail("a number in it is larger than 18446744073709551615");
  *out = std::move(v);
  return true;
}

int CompareVersions(const Version& a, const Version& b) {
  if (int c = Cmp(a.epoch, b.epoch)) return c;
  size_t n = std::max(a.release.size(), b.release.size());
  for (size_t i = 0; i < n; ++i) {
    uint64_t x = i < a.release.size() ? a.release[i] : 0;
    uint64_t y = i < b.release.size() ? b.release[i] : 0;
    if (int c = Cmp(x, y)) return c;
  }
  int ra = PreRank(a), rb = PreRank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  if (ra >= 1 && ra <= 3)
    if (int c = Cmp(a.pre_number, b.pre_number)) return c;
  if (a.post.has_value() != b.post.has_value()) return a.post ? 1 : -1;
  if (a.post)
    if (int c = Cmp(*a.post, *b.post)) return c;
  if (a.dev.has_value() != b.dev.has_value()) return a.dev ? -1 : 1;
  if (a.dev)
    if (int c = Cmp(*a.dev, *b.dev)) return c;
  size_t m = std::min(a.local.size(), b.local.size());
  for (size_t i = 0; i < m; ++i)
    if (int c = CompareLocalSegment(a.local[i], b.local[i])) return c;
  return Cmp(a.local.size(), b.local.size());
}

std::string NormalizeVersion(const Version& v) {
  std::string out;
  if (v.epoch != 0) out += std::to_string(v.epoch) + "!";
  for (size_t i = 0; i < v.release.size(); ++i) {
    if (i) out += '.';
    out += std::to_string(v.release[i]);
  }
  switch (v.pre) {
    case Version::Pre::kAlpha: out += "a" + std::to_string(v.pre_number); break;
    case Version::Pre::kBeta: out += "b" + std::to_string(v.pre_number); break;
    case Version::Pre::kRc: out += "rc" + std::to_string(v.pre_number); break;
    case Version::Pre::kNone: break;
  }
  if (v.post) out += ".post" + std::to_string(*v.post);
  if (v.dev) out += ".dev" + std::to_string(*v.dev);
  for (size_t i = 0; i < v.local.size(); ++i) out += (i ? "." : "+") + v.local[i];
  return out;
}

bool SpecifierContains(const std::string& specifier, const std::string& version,
                       bool* contains, std::string* err) {
  std::vector<Clause> clauses;
  std::string_view rest = specifier;
  while (true) {
    size_t comma = rest.find(',');
    std::string_view part = Trim(rest.substr(0, comma));
    if (!part.empty()) {  // "", ">=3.8," and " " are tolerated as pip does
      Clause c;
      std::string why;
      if (!ParseClause(part, &c, &why)) {
        *err = "bad version specifier '" + specifier + "': clause '" + std::string(part) +
               "': " + why + " (expected clauses such as >=3.8, <4, !=3.9.*, ~=3.10)";
        return false;
      }
      clauses.push_back(std::move(c));
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }

  bool only_arbitrary = !clauses.empty();
  for (const Clause& c : clauses) only_arbitrary = only_arbitrary && c.op == Op::kArbitrary;
  Version v;
  std::string verr;
  bool parsed = ParseVersion(version, &v, &verr);
  if (!parsed && !only_arbitrary) {
    *err = "cannot check version against specifier '" + specifier + "': " + verr;
    return false;
  }
  std::string text = Lower(Trim(version));
  bool all = true;
  for (const Clause& c : clauses) {
    bool ok = c.op == Op::kArbitrary ? (text == c.text) : ClauseContains(c, v);
    all = all && ok;
  }
  *contains = all;
  return true;
}

}  // namespace corral
