#include "common/pep440.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace corral {
namespace {

Version V(const std::string& text) {
  Version v;
  std::string err;
  INFO(text);
  REQUIRE(ParseVersion(text, &v, &err));
  return v;
}

TEST_CASE("ParseVersion accepts PEP 440's spellings and normalises them") {
  struct Row {
    const char* text;
    const char* normal;
  };
  const std::vector<Row> rows = {
      {"1.0", "1.0"},
      {"1", "1"},
      {"  1.0.0\n", "1.0.0"},
      {"v1.0", "1.0"},
      {"V2.1", "2.1"},
      {"01.002.0003", "1.2.3"},
      {"1!2.0", "1!2.0"},
      {"0!1.0", "1.0"},
      {"1.0a1", "1.0a1"},
      {"1.0alpha1", "1.0a1"},
      {"1.0ALPHA1", "1.0a1"},
      {"1.0-a-1", "1.0a1"},
      {"1.0_a_1", "1.0a1"},
      {"1.0.a.1", "1.0a1"},
      {"1.0a", "1.0a0"},
      {"1.0a-", "1.0a0"},  // a trailing separator is allowed
      {"1.0-dev-", "1.0.dev0"},
      {"1.0beta2", "1.0b2"},
      {"1.0c3", "1.0rc3"},
      {"1.0pre3", "1.0rc3"},
      {"1.0preview3", "1.0rc3"},
      {"1.0RC1", "1.0rc1"},
      {"1.0.post1", "1.0.post1"},
      {"1.0post1", "1.0.post1"},
      {"1.0-post1", "1.0.post1"},
      {"1.0.rev1", "1.0.post1"},
      {"1.0r1", "1.0.post1"},
      {"1.0-r", "1.0.post0"},
      {"1.0.post", "1.0.post0"},
      {"1.0-1", "1.0.post1"},
      {"1.0-1.dev2", "1.0.post1.dev2"},
      {"1.0.dev", "1.0.dev0"},
      {"1.0dev3", "1.0.dev3"},
      {"1.0-dev-3", "1.0.dev3"},
      {"1.0a.dev1", "1.0a0.dev1"},
      {"1.0rc1.post2.dev3", "1.0rc1.post2.dev3"},
      {"1.0+ubuntu-1", "1.0+ubuntu.1"},
      {"1.0+Ubuntu_01.A", "1.0+ubuntu.1.a"},
      {"1.0+abc.007", "1.0+abc.7"},
      {"2!1.0a2.post3.dev4+local.5", "2!1.0a2.post3.dev4+local.5"},
      {"18446744073709551615", "18446744073709551615"},
  };
  for (const Row& row : rows) {
    INFO(row.text);
    Version v;
    std::string err;
    REQUIRE(ParseVersion(row.text, &v, &err));
    CHECK(NormalizeVersion(v) == row.normal);
  }
}

TEST_CASE("ParseVersion fills the fields") {
  Version v = V("3!1.2.3rc4.post5.dev6+a.7");
  CHECK(v.epoch == 3);
  CHECK(v.release == std::vector<uint64_t>{1, 2, 3});
  CHECK(v.pre == Version::Pre::kRc);
  CHECK(v.pre_number == 4);
  CHECK(v.post == 5u);
  CHECK(v.dev == 6u);
  CHECK(v.local == std::vector<std::string>{"a", "7"});
  CHECK(v.IsPrerelease());
  CHECK(v.IsPostrelease());
  CHECK(NormalizeVersion(v.Public()) == "3!1.2.3rc4.post5.dev6");
  CHECK(NormalizeVersion(v.Base()) == "3!1.2.3");
  CHECK_FALSE(V("1.0.post1").IsPrerelease());
  CHECK(V("1.0.dev1").IsPrerelease());
}

TEST_CASE("ParseVersion rejects what is not PEP 440") {
  const std::vector<const char*> bad = {
      "", "   ", "a", "1.", ".1", "1..0", "1.0+", "1.0+a..b", "1.0+a_", "1.0-",
      "1.0.x", "1.0 a1", "1!", "!1.0", "1.0*", "1.0.*", "1.0+a+b", "vv1.0",
      "1.0dev1a1", "1.0.post1a1", "1.0+ü", "french toast", "2.7-latest",
      "18446744073709551616",
  };
  for (const char* text : bad) {
    INFO("'" << text << "'");
    Version v;
    std::string err;
    CHECK_FALSE(ParseVersion(text, &v, &err));
    CHECK(err.find("not a PEP 440 version") != std::string::npos);
  }
}

TEST_CASE("CompareVersions follows PEP 440's total order") {
  // Strictly increasing.
  const std::vector<const char*> order = {
      "0.9",         "1.0.dev0",    "1.0.dev1",    "1.0a1.dev1", "1.0a1",       "1.0a1.post1.dev1",
      "1.0a1.post1", "1.0a2",       "1.0a10",      "1.0b1",      "1.0rc1.dev0", "1.0rc1",
      "1.0",         "1.0+abc",     "1.0+abc.1",   "1.0+abd",    "1.0+1",       "1.0+2",
      "1.0+10",      "1.0+10.a",    "1.0.post1.dev0", "1.0.post1", "1.0.post1+x", "1.0.post2",
      "1.0.1",       "1.1.dev1",    "1.1",         "1.9",        "1.10",        "2",
      "2.0.1",       "99999",       "1!0.1",       "1!1.0",      "2!0.0.dev0",
  };
  for (size_t i = 0; i < order.size(); ++i) {
    for (size_t j = 0; j < order.size(); ++j) {
      INFO(order[i] << " vs " << order[j]);
      int c = CompareVersions(V(order[i]), V(order[j]));
      if (i < j) CHECK(c < 0);
      if (i == j) CHECK(c == 0);
      if (i > j) CHECK(c > 0);
    }
  }
}

TEST_CASE("CompareVersions treats spellings of one version as equal") {
  const std::vector<std::pair<const char*, const char*>> same = {
      {"1.0", "1"},          {"1.0", "1.0.0.0"}, {"v1.0", "1.0"},     {"1.0alpha1", "1.0a1"},
      {"1.0-1", "1.0.post1"}, {"0!1.0", "1.0"},  {"1.0+01", "1.0+1"}, {"1.0c1", "1.0rc1"},
      {"1.0+A", "1.0+a"},
  };
  for (const auto& [a, b] : same) {
    INFO(a << " vs " << b);
    CHECK(CompareVersions(V(a), V(b)) == 0);
  }
}

TEST_CASE("SpecifierContains applies PEP 440's specifier semantics") {
  struct Row {
    const char* spec;
    const char* version;
    bool contains;
  };
  const std::vector<Row> rows = {
      // Requires-Python, the common case.
      {">=3.8", "3.7", false},
      {">=3.8", "3.7.16", false},
      {">=3.8", "3.8", true},
      {">=3.8", "3.8.0", true},
      {">=3.8", "3.10", true},
      {">=3.8", "3.13.0", true},
      {">=3.8", "3.13.0rc1", true},  // an installed pre-release interpreter is not excluded
      {"<3", "2.7.18", true},
      {"<3", "3.6.15", false},
      {"<3", "3.0.0a1", false},  // <V rejects pre-releases of V itself
      {"<3", "3.0.dev0", false},
      {"<3", "2.9a1", true},     // ...but not pre-releases of lower versions
      {"<3.0rc1", "3.0b1", true},  // ...unless V is a pre-release
      {"<3.0", "2.7+local", true},
      {">3.6", "3.6.15", true},   // a later release, not a post-release of 3.6
      {">3.6", "3.6", false},
      {">3.6", "3.6.0", false},
      {">3.6", "3.6.post1", false},  // >V rejects post-releases of V
      {">3.6", "3.6.0.post1", false},
      {">3.6", "3.6+local", false},  // ...and local versions of V
      {">3.6", "3.7", true},
      {">3.6.post1", "3.6.post2", true},  // ...unless V is a post-release
      {">3.6", "3.6.1a1", true},
      {"<=3.6", "3.6+local", true},  // inclusive comparisons ignore the local label
      {">=3.6", "3.6+local", true},
      {"<=3.6", "3.6.post1", false},
      {">=3.6", "3.6rc1", false},
      {"!=3.0.*,!=3.1.*,!=3.2.*,>=2.7", "2.7.18", true},
      {"!=3.0.*,!=3.1.*,!=3.2.*,>=2.7", "3.1.4", false},
      {"!=3.0.*,!=3.1.*,!=3.2.*,>=2.7", "3.10", true},  // 3.10 is not 3.1.*
      {"!=3.0.*,!=3.1.*,!=3.2.*,>=2.7", "3.3", true},
      {">=2.7, !=3.0.*, <4", "3.9.18", true},
      {">=2.7, !=3.0.*, <4", "4.0", false},
      // Wildcards.
      {"==3.11.*", "3.11", true},
      {"==3.11.*", "3.11.7", true},
      {"==3.11.*", "3.11.0a1", true},
      {"==3.11.*", "3.11.7+local", true},
      {"==3.11.*", "3.1", false},
      {"==3.11.*", "3.12.0", false},
      {"==3.*", "3", true},
      {"==3.0.*", "3", true},  // zero padding of the candidate
      {"==1!3.*", "3.1", false},
      {"==1!3.*", "1!3.1", true},
      {"!=3.11.*", "3.11.7", false},
      {"!=3.11.*", "3.12", true},
      // Exact equality.
      {"==3.11", "3.11.0", true},
      {"==3.11.0", "3.11", true},
      {"==3.11", "3.11.7", false},
      {"==3.11", "3.11+local", true},  // a public spec ignores the candidate's label
      {"==3.11+local", "3.11+local", true},
      {"==3.11+local", "3.11", false},
      {"==3.11+local", "3.11+other", false},
      {"==v3.11alpha1", "3.11a1", true},
      {"!=3.11", "3.11.0", false},
      {"!=3.11", "3.11.1", true},
      {"===3.11.0", "3.11.0", true},
      {"===3.11.0", "3.11", false},  // arbitrary equality is on the text
      {"===foobar", "FooBar", true},  // and needs no valid version
      // Compatible release.
      {"~=3.8", "3.8", true},
      {"~=3.8", "3.9.18", true},
      {"~=3.8", "3.7.16", false},
      {"~=3.8", "4.0", false},
      {"~=3.8.1", "3.8.0", false},
      {"~=3.8.1", "3.8.18", true},
      {"~=3.8.1", "3.9", false},
      {"~=2.2.post3", "2.2.post3", true},
      {"~=2.2.post3", "2.2", false},
      {"~=2.2.post3", "2.9", true},
      {"~=2.2.post3", "3.0", false},
      {"~=1.4.5a4", "1.4.5a4", true},
      {"~=1.4.5a4", "1.4.9", true},
      {"~=1.4.5a4", "1.5", false},
      {"~=1!1.0", "1.1", false},
      {"~=1!1.0", "1!1.5", true},
      // Whitespace, empty sets and stray commas.
      {"", "3.11", true},
      {"   ", "0.0.1a1", true},
      {" >= 3.8 , < 4 ", "3.11", true},
      {">=3.8,", "3.11", true},
      {"> 3.6", "3.6.15", true},
  };
  for (const Row& row : rows) {
    INFO("'" << row.spec << "' contains '" << row.version << "'");
    bool contains = !row.contains;
    std::string err;
    REQUIRE(SpecifierContains(row.spec, row.version, &contains, &err));
    CHECK(contains == row.contains);
  }
}

TEST_CASE("SpecifierContains names the malformed clause") {
  struct Row {
    const char* spec;
    const char* clause;
  };
  const std::vector<Row> rows = {
      {"3.8", "'3.8'"},                 // no operator
      {">=3.8, 3.9", "'3.9'"},
      {">=3.x", "'>=3.x'"},
      {"=>3.8", "'=>3.8'"},
      {">=3.8,<", "'<'"},
      {">=3.*", "'>=3.*'"},            // wildcard with an ordered comparison
      {"~=3.*", "'~=3.*'"},
      {"==3.8a1.*", "'==3.8a1.*'"},    // wildcard after a pre-release
      {"==3.*.1", "'==3.*.1'"},
      {">=3.8+local", "'>=3.8+local'"},  // local label outside == and !=
      {"~=3", "'~=3'"},                  // ~= needs two segments
      {"=== 1 2", "'=== 1 2'"},
      {">=3.8;python_version", "'>=3.8;python_version'"},
  };
  for (const Row& row : rows) {
    INFO(row.spec);
    bool contains = true;
    std::string err;
    CHECK_FALSE(SpecifierContains(row.spec, "3.11", &contains, &err));
    CHECK(err.find(std::string("clause ") + row.clause) != std::string::npos);
    CHECK(contains);  // untouched on error
  }
}

TEST_CASE("SpecifierContains rejects a malformed version") {
  bool contains = false;
  std::string err;
  CHECK_FALSE(SpecifierContains(">=3.8", "3.11-final", &contains, &err));
  CHECK(err.find("'3.11-final' is not a PEP 440 version") != std::string::npos);
  err.clear();
  CHECK_FALSE(SpecifierContains("", "not a version", &contains, &err));
  CHECK_FALSE(err.empty());
}

}  // namespace
}  // namespace corral
