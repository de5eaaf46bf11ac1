#include <catch2/catch.hpp>

#include "common/names.h"
#include "common/outcome.h"
#include "common/platform.h"
#include "common/protocol.h"

using namespace corral;

TEST_CASE("PEP 503 normalisation") {
  struct Case { const char* in; const char* out; };
  for (auto c : {Case{"Django", "django"}, Case{"zope.interface", "zope-interface"},
                 Case{"Foo__Bar", "foo-bar"}, Case{"a-_.b", "a-b"}, Case{"ruamel.yaml.clib", "ruamel-yaml-clib"},
                 Case{"PyYAML", "pyyaml"}, Case{"typing_extensions", "typing-extensions"}}) {
    CAPTURE(c.in);
    CHECK(NormalizeProjectName(c.in) == c.out);
  }
  CHECK(IsValidProjectName("requests"));
  CHECK(IsValidProjectName("a.b_c-d"));
  CHECK_FALSE(IsValidProjectName("-leading"));
  CHECK_FALSE(IsValidProjectName("trailing."));
  CHECK_FALSE(IsValidProjectName("sp ace"));
  CHECK_FALSE(IsValidProjectName(""));
}

TEST_CASE("platform tags parse and print as PEP 425 short forms") {
  std::string err;
  PlatformTag t;
  REQUIRE(ParsePlatformTag("cp311-linux_x86_64", &t, &err));
  CHECK(t.implementation == "cp");
  CHECK(t.major == 3);
  CHECK(t.minor == 11);
  CHECK(t.os == "linux");
  CHECK(t.arch == "x86_64");
  CHECK(t.PythonVersion() == "3.11");
  CHECK(t.ToString() == "cp311-linux_x86_64");

  REQUIRE(ParsePlatformTag("cp27-win_amd64", &t, &err));
  CHECK(t.os == "windows");
  CHECK(t.PythonVersion() == "2.7");
  CHECK(t.ToString() == "cp27-win_amd64");
  REQUIRE(ParsePlatformTag("pp39-linux_x86_64", &t, &err));
  CHECK(t.implementation == "pp");

  for (const char* good : {"cp312-manylinux_2_17_x86_64", "cp311-macosx_11_0_arm64", "cp313-musllinux_1_2_aarch64",
                           "cp311-win_amd64", "pp310-linux_x86_64"}) {
    CAPTURE(good);
    REQUIRE(ParsePlatformTag(good, &t, &err));
    CHECK(t.ToString() == good);
  }
  // Made-up tags (issue 18: 2,000 of them in one enrolment grew the store).
  for (const char* bad : {"", "cp311", "xx311-linux_x86_64", "cp3a-linux_x86_64", "cp311-linux", "cp311-_x",
                          "cp30-linux_fake0", "cp41-linux_x86_64", "cp11-linux_x86_64", "cp3111-linux_x86_64",
                          "cp311-plan9_x86_64", "cp311-linux_x86_64!", "cp311-linux_X86_64"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParsePlatformTag(bad, &t, &err));
    CHECK(err.find("PEP 425") != std::string::npos);
  }

  Platform p;
  p.implementation = "pypy";
  p.python_version = "3.9.16";
  p.os = "linux";
  p.arch = "x86_64";
  CHECK(p.Tag().ToString() == "pp39-linux_x86_64");
  p.implementation = "cpython";
  p.python_version = "3.13.0";
  CHECK(p.Tag().ToString() == "cp313-linux_x86_64");
}

TEST_CASE("outcome words round-trip") {
  for (auto o : {Outcome::kPassed, Outcome::kTestsFailed, Outcome::kNoTests, Outcome::kImportFailed,
                 Outcome::kInstallFailed, Outcome::kBuildFailed, Outcome::kUnsupported, Outcome::kTimeout,
                 Outcome::kResourceExhausted, Outcome::kInfraError}) {
    CHECK(ParseOutcome(OutcomeName(o)) == o);
  }
  CHECK_FALSE(ParseOutcome("maybe"));
  CHECK(IsSpurious(Outcome::kInfraError));
  CHECK_FALSE(IsSpurious(Outcome::kTestsFailed));
}

TEST_CASE("result payloads round-trip and strict parsing names the bad field") {
  ResultPayload r;
  r.task_id = "t";
  r.lease_id = "l";
  r.volunteer_id = "v";
  r.input_sha256 = "abc";
  r.platform.implementation = "cpython";
  r.platform.python_version = "3.11.7";
  r.outcome = Outcome::kTestsFailed;
  r.failing_tests = {"tests.test_a.T.test_x"};
  r.tests_failed = 1;
  nlohmann::json j = r;
  ResultPayload back;
  std::string err;
  REQUIRE(ParseResultPayload(j, &back, &err));
  CHECK(back.outcome == Outcome::kTestsFailed);
  CHECK(back.failing_tests == r.failing_tests);
  CHECK(back.platform.python_version == "3.11.7");
  CHECK(back.tests_failed == 1);

  // How the suite ran travels with the result, within bounds.
  r.test_run.runner = "pytest";
  r.test_run.command = "cd /job/testrun && python -m pytest tests";
  r.test_run.flaky = {"tests.test_b.test_retry"};
  r.test_run.first_failures = {{"tests.test_a.T.test_x", "Traceback ...\nAssertionError"}};
  nlohmann::json with_run = r;
  ResultPayload run_back;
  REQUIRE(ParseResultPayload(with_run, &run_back, &err));
  CHECK(run_back.test_run.command == r.test_run.command);
  CHECK(run_back.test_run.flaky == r.test_run.flaky);
  REQUIRE(run_back.test_run.first_failures.size() == 1);
  CHECK(run_back.test_run.first_failures[0].text == "Traceback ...\nAssertionError");
  nlohmann::json no_run = with_run;
  no_run.erase("test_run");  // older clients send none
  REQUIRE(ParseResultPayload(no_run, &run_back, &err));
  CHECK(run_back.test_run.command.empty());
  nlohmann::json long_list = with_run;
  long_list["test_run"]["flaky"] = std::vector<std::string>(kMaxTestEvidenceItems + 1, "t");
  CHECK_FALSE(ParseResultPayload(long_list, &run_back, &err));
  CHECK(err.find("test_run") != std::string::npos);
  nlohmann::json many = with_run;
  many["test_run"]["first_failures"] =
      std::vector<nlohmann::json>(kMaxFirstFailures + 1, {{"id", "t"}, {"text", "x"}});
  CHECK_FALSE(ParseResultPayload(many, &run_back, &err));
  nlohmann::json wrong = with_run;
  wrong["test_run"]["command"] = 7;
  CHECK_FALSE(ParseResultPayload(wrong, &run_back, &err));
  CHECK(err.find("command") != std::string::npos);

  j["outcome"] = "excellent";
  CHECK_FALSE(ParseResultPayload(j, &back, &err));
  CHECK(err.find("outcome") != std::string::npos);
  j.erase("task_id");
  CHECK_FALSE(ParseResultPayload(j, &back, &err));
  CHECK(err.find("task_id") != std::string::npos);

  LeaseRequest lr;
  CHECK_FALSE(ParseLeaseRequest(nlohmann::json{{"platforms", "cp311"}}, &lr, &err));
  CHECK(err.find("platforms") != std::string::npos);
  CHECK_FALSE(ParseLeaseRequest(nlohmann::json{{"platforms", {"a"}}, {"slots", 100000}}, &lr, &err));
}
