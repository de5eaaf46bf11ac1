// The pages of /simple/, the index pip installs from (DESIGN.md section 7):
// PEP 503 HTML and PEP 691 JSON (api-version 1.1: PEP 700 sizes, upload
// times and versions), with the file hashes as `#sha256=` fragments and
// PEP 658/714 core metadata. Pure rendering from published wheel records;
// what is published is wheel_index.h's business.
//
// Links are relative, so the same pages work on the live coordinator and in
// a static export served from any prefix: from /simple/<project>/ a wheel is
// ../../wheels/<sha256>/<filename> and its metadata the same + ".metadata".
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "coordinator/wheel_index.h"

namespace corral::coordinator {

inline constexpr const char* kSimpleJsonType = "application/vnd.pypi.simple.v1+json";
inline constexpr const char* kSimpleHtmlType = "application/vnd.pypi.simple.v1+html";
inline constexpr const char* kSimpleApiVersion = "1.1";

// Which serialisation a client asked for (PEP 691 content negotiation).
enum class SimpleFormat { kHtml, kVersionedHtml, kJson, kNotAcceptable };

// Chooses from the Accept header (q-values honoured; the more specific range
// wins for a type; at equal quality JSON is preferred for explicit types and
// text/html for wildcards) or, when given, PyPI's ?format= parameter, which
// overrides the header. No Accept header means text/html.
SimpleFormat ChooseSimpleFormat(const std::string& accept, const std::string& format_param);
// The Content-Type to answer with for a chosen format.
std::string SimpleContentType(SimpleFormat format);

// One project of the root page.
struct SimpleProject {
  std::string name;          // normalised: the URL segment
  std::string display_name;  // as the index spells it (the link text)
};

// GET /simple/ : every project with a published wheel.
std::string SimpleRootHtml(const std::vector<SimpleProject>& projects);
nlohmann::json SimpleRootJson(const std::vector<SimpleProject>& projects);

// GET /simple/<project>/ : its published wheels.
std::string SimpleProjectHtml(const std::string& project, const std::vector<WheelRecord>& wheels);
nlohmann::json SimpleProjectJson(const std::string& project, const std::vector<WheelRecord>& wheels);

// The URL of a wheel relative to its project page.
std::string SimpleWheelUrl(const WheelRecord& wheel);

// Unix seconds as PEP 700 writes upload times: "2024-03-01T12:00:00.000000Z".
std::string Iso8601Micros(int64_t unix_seconds);

}  // namespace corral::coordinator
