// libFuzzer target: the JUnit XML report a test run writes inside the
// sandbox, which package code controls. Counts, ids and tracebacks are
// read from it; any crash, sanitizer report or escaping exception is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sandbox/junit_report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string xml(reinterpret_cast<const char*>(data), size);
  corral::sandbox::JUnitSummary summary;
  std::string err;
  corral::sandbox::ParseJUnitText(xml, &summary, &err);
  return 0;
}
