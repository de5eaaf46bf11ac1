#include "sandbox/junit_report.h"

#include "common/text.h"
#include "sandbox/sandbox_policy.h"

#include <pugixml.hpp>

#include <algorithm>
#include <fstream>
#include <system_error>

namespace corral::sandbox {

namespace {

// The failure's message and traceback, the head and the tail kept when it
// is longer than kMaxTestEvidenceText (the tail has the assertion).
std::string FailureText(const pugi::xml_node& bad) {
  std::string message = bad.attribute("message").as_string();
  std::string body = bad.text().as_string();
  std::string text = body.find(message) != std::string::npos || message.empty()
                         ? body
                         : message + (body.empty() ? "" : "\n" + body);
  const size_t max = kMaxTestEvidenceText;
  if (text.size() <= max) return CutUtf8(text, max);
  std::string head = CutUtf8(text.substr(0, max / 4), max / 4);
  size_t from = text.size() - (max - head.size() - 16);
  while (from < text.size() && (static_cast<unsigned char>(text[from]) & 0xC0) == 0x80) ++from;
  return head + "\n[...]\n" + text.substr(from);
}

// Suites nest a few levels in real reports; deeper ones are not read (the
// file is untrusted, and the walk is recursive).
constexpr int kMaxSuiteDepth = 32;

void Walk(const pugi::xml_node& node, JUnitSummary* out, int depth = 0) {
  for (pugi::xml_node child : node.children()) {
    std::string_view tag = child.name();
    if (tag == "testsuite" || tag == "testsuites") {
      if (depth < kMaxSuiteDepth) Walk(child, out, depth + 1);
    } else if (tag == "testcase") {
      std::string cls = child.attribute("classname").as_string();
      std::string name = child.attribute("name").as_string();
      std::string id = cls.empty() ? name : cls + "." + name;
      pugi::xml_node bad = child.child("failure") ? child.child("failure") : child.child("error");
      if (bad && out->first_failures.size() < kMaxFirstFailures)
        out->first_failures.push_back({CutUtf8(id, kMaxTestEvidenceText), FailureText(bad)});
      if (child.attribute("flaky").as_bool() && !bad) {
        ++out->flaky;
        out->flaky_ids.push_back(id);
      } else if (child.child("failure")) {
        ++out->failed;
        out->failing.push_back(id);
      } else if (child.child("error")) {
        ++out->errors;
        out->failing.push_back(id);
      } else if (child.child("skipped")) {
        ++out->skipped;
      } else {
        ++out->passed;
      }
    }
  }
}

}  // namespace

bool ParseJUnitText(const std::string& xml, JUnitSummary* out, std::string* err) {
  *out = JUnitSummary{};
  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size());
  if (!parsed) {
    *err = std::string("JUnit report is not well-formed XML: ") + parsed.description() +
           " at byte " + std::to_string(parsed.offset);
    return false;
  }
  Walk(doc, out);
  for (auto* ids : {&out->failing, &out->flaky_ids}) {
    std::sort(ids->begin(), ids->end());
    ids->erase(std::unique(ids->begin(), ids->end()), ids->end());
  }
  return true;
}

bool ParseJUnit(const std::filesystem::path& path, size_t max_bytes, JUnitSummary* out,
                std::string* err) {
  std::string text;
  if (!ReadFileCapped(path, max_bytes, &text, err)) {
    *err = "JUnit report: " + *err;
    return false;
  }
  if (!ParseJUnitText(text, out, err)) {
    *err = path.string() + ": " + *err;
    return false;
  }
  return true;
}

}  // namespace corral::sandbox
