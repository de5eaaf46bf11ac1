#include "sandbox/junit_report.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "test_packages.h"

using namespace corral::sandbox;

TEST_CASE("ParseJUnitText counts pytest-style nested suites and sorts failing ids") {
  const char* xml = R"XML(<?xml version="1.0"?>
<testsuites><testsuite name="pytest" tests="5">
  <testcase classname="tests.test_b.TestB" name="test_z"><failure message="x">boom</failure></testcase>
  <testcase classname="tests.test_a" name="test_ok" time="0.1"/>
  <testcase classname="tests.test_a" name="test_err"><error message="e"/></testcase>
  <testcase classname="tests.test_a" name="test_skip"><skipped message="s"/></testcase>
  <testcase classname="" name="setUpClass (tests.test_c.C)"><error/></testcase>
</testsuite></testsuites>)XML";
  JUnitSummary s;
  std::string err;
  REQUIRE(ParseJUnitText(xml, &s, &err));
  CHECK(s.passed == 1);
  CHECK(s.failed == 1);
  CHECK(s.errors == 2);
  CHECK(s.skipped == 1);
  CHECK(s.total() == 5);
  CHECK(s.failing == std::vector<std::string>{"setUpClass (tests.test_c.C)", "tests.test_a.test_err",
                                              "tests.test_b.TestB.test_z"});
}

TEST_CASE("ParseJUnit refuses oversized and malformed reports") {
  corral::sandbox::testing::TempDir tmp;
  std::ofstream(tmp.path() / "big.xml") << "<testsuite>" << std::string(5000, ' ') << "</testsuite>";
  std::ofstream(tmp.path() / "bad.xml") << "<testsuite><testcase></testsuite>";
  JUnitSummary s;
  std::string err;
  CHECK_FALSE(ParseJUnit(tmp.path() / "big.xml", 1000, &s, &err));
  CHECK(err.find("over the cap") != std::string::npos);
  CHECK_FALSE(ParseJUnit(tmp.path() / "bad.xml", 1000, &s, &err));
  CHECK(err.find("not well-formed") != std::string::npos);
  CHECK_FALSE(ParseJUnit(tmp.path() / "missing.xml", 1000, &s, &err));
  REQUIRE(ParseJUnit(tmp.path() / "big.xml", 10000, &s, &err));
  CHECK(s.total() == 0);
}
