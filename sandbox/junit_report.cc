#include "sandbox/junit_report.h"

#include "sandbox/sandbox_policy.h"

#include <pugixml.hpp>

#include <algorithm>
#include <fstream>
#include <system_error>

namespace corral::sandbox {

namespace {

void Walk(const pugi::xml_node& node, JUnitSummary* out) {
  for (pugi::xml_node child : node.children()) {
    std::string_view tag = child.name();
    if (tag == "testsuite" || tag == "testsuites") {
      Walk(child, out);
    } else if (tag == "testcase") {
      std::string cls = child.attribute("classname").as_string();
      std::string name = child.attribute("name").as_string();
      std::string id = cls.empty() ? name : cls + "." + name;
      if (child.child("failure")) {
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
  std::sort(out->failing.begin(), out->failing.end());
  out->failing.erase(std::unique(out->failing.begin(), out->failing.end()), out->failing.end());
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
