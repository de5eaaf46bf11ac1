// `corral export-static DIR --data DATA` (DESIGN.md sections 4a and 7): the
// public site, its JSON documents and the wheel index (/simple/, wheels and
// their PEP 658 metadata) written as plain files that nginx or a CDN serves
// unchanged, so the read side scales out while the coordinator stays the one
// writer.
//
// The pages are not rendered a second way: the coordinator's own routes
// (Coordinator::Handle, over the store opened read-only, which works while a
// coordinator runs on DATA) answer requests for every public path, found by
// crawling the site from its entry points (the home page, /simple/, every
// project, volunteer and account in the store) and following every same-site
// href and src, so pages added to the site later are exported with it.
//
// How URLs become files:
//   /projects/foo            HTML -> projects/foo/index.html (servers redirect
//                            /projects/foo to /projects/foo/ and serve it)
//   /api/v1/projects/foo     JSON -> api/v1/projects/foo/index.json
//   /simple/foo/             both index.html and index.json (the JSON is what
//                            Accept: application/vnd.pypi.simple.v1+json gets;
//                            see packaging/nginx-static.conf)
//   /badges/foo.svg, /wheels/<sha256>/<file>.whl, /api/v1/artifacts/<sha256>
//                            -> the same path, as a file (wheels are hard links
//                            to the artifact store when it is on the same
//                            file system)
//   /leaderboard?window=day  -> leaderboard/window=day/index.html, and links to
//                            it in the exported HTML are rewritten to match
// Forms (the lookup box) need the live coordinator; the example nginx
// configuration can send /lookup there.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>

namespace corral::coordinator {

struct StaticExportOptions {
  std::filesystem::path data_dir;  // the coordinator's --data (db/, artifacts/)
  std::filesystem::path out_dir;   // replaced as a whole when the export is complete
  // Where the export will be served: absolute links (feeds) and the
  // reproduce commands on task pages use it.
  std::string public_url = "http://127.0.0.1:8080";
  size_t max_pages = 5'000'000;    // a crawl that finds more stops with an error
};

// What an export wrote.
struct StaticExportStats {
  int64_t html_pages = 0, json_documents = 0, wheels = 0, metadata_files = 0, other_files = 0;
  int64_t bytes = 0;          // of every file written (wheels counted whole)
  int64_t linked_wheels = 0;  // wheels hard-linked rather than copied
  int64_t broken_links = 0;   // same-site links the coordinator answers with an error
  double seconds = 0;
  // Files and bytes per top-level folder ("projects/", "simple/", ...; ""
  // for files at the root).
  std::map<std::string, std::pair<int64_t, int64_t>> sections;
};

// Writes the export into a sibling folder "<out_dir>.partial", then swaps it
// in place of out_dir (which must be absent, empty, or an earlier export:
// it holds the marker file .corral-export). Broken links are logged with the
// page that holds them and counted, not fatal. False with *err when the
// store cannot be opened, out_dir is something else, or a write fails.
bool ExportStatic(const StaticExportOptions& options, StaticExportStats* stats, std::string* err);

// What an export wrote, in lines for people: totals per kind, bytes, the
// folders, broken links.
std::string DescribeExport(const std::filesystem::path& out_dir, const StaticExportStats& stats);

// The file (relative to the export's root) that serves `url_path` (decoded
// path, no query) with a response of `content_type`; "" when the path cannot
// be a file name (".." segments, NUL). Exposed for tests.
std::string StaticFileFor(const std::string& url_path, const std::string& content_type);

// The path a query URL is exported under: "/leaderboard?window=day" ->
// "/leaderboard/window=day/"; a URL without a query is returned unchanged.
std::string StaticUrlFor(const std::string& url);

}  // namespace corral::coordinator
