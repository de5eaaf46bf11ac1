// libFuzzer target: the index pages the coordinator and the volunteer's
// proxy read from an index nobody vouches for. The input is taken as a PEP
// 691 JSON document (root and project page, through the bounded JSON
// parser), as PEP 503 HTML (root and project page) and as the anchors of a
// simple page. Any crash, sanitizer report or escaping exception is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/protocol.h"
#include "coordinator/index_sync.h"
#include "coordinator/simple_html.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace corral::coordinator;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string err;
  const std::string url = "https://index.example/simple/demo/";
  IndexLimits limits;
  limits.max_files_per_page = 2000;
  {
    IndexRoot root;
    ParseIndexRootHtml(text, &root, &err);
    IndexPage page;
    ParseIndexProjectHtml(url, "demo", text, &page, &err, limits);
    ParseSimpleHtml(text, 2000);
  }
  nlohmann::json j;
  if (!corral::ParseJson(text, &j, &err)) return 0;
  IndexRoot root;
  ParseIndexRoot(j, &root, &err);
  IndexPage page;
  ParseIndexProject(url, "demo", j, &page, &err, limits);
  return 0;
}
