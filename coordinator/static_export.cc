#include "coordinator/static_export.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "coordinator/artifact_store.h"
#include "coordinator/coordinator.h"
#include "coordinator/store.h"
#include "leaderboard/site.h"

namespace corral::coordinator {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMarker = ".corral-export";
constexpr const char* kCrawlBase = "http://export.invalid";

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool EndsWith(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

std::string HtmlUnescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out.push_back('&');
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    std::string rep;
    if (ent == "amp") rep = "&";
    else if (ent == "lt") rep = "<";
    else if (ent == "gt") rep = ">";
    else if (ent == "quot") rep = "\"";
    else if (ent == "apos" || ent == "#39") rep = "'";
    if (rep.empty()) {
      out.push_back('&');
      continue;
    }
    out += rep;
    i = semi;
  }
  return out;
}

// One href="..." or src="..." attribute value in a page: where its text is
// and what it says (entities decoded).
struct AttrRef {
  size_t begin = 0, end = 0;  // the value's bytes, between the quotes
  std::string value;
};

std::vector<AttrRef> FindLinks(const std::string& html) {
  std::vector<AttrRef> out;
  for (const char* name : {"href=", "src="}) {
    std::string_view n(name);
    size_t pos = 0;
    while ((pos = html.find(n, pos)) != std::string::npos) {
      size_t at = pos;
      pos += n.size();
      if (at == 0 || !(html[at - 1] == ' ' || html[at - 1] == '\n' || html[at - 1] == '\t')) continue;
      if (pos >= html.size() || (html[pos] != '"' && html[pos] != '\'')) continue;
      char quote = html[pos];
      size_t close = html.find(quote, pos + 1);
      if (close == std::string::npos) break;
      out.push_back({pos + 1, close, HtmlUnescape(std::string_view(html).substr(pos + 1, close - pos - 1))});
      pos = close + 1;
    }
  }
  std::sort(out.begin(), out.end(), [](const AttrRef& a, const AttrRef& b) { return a.begin < b.begin; });
  return out;
}

// The same-site URL ("/path?query", no fragment) that `ref` on the page
// served at `base` points to; "" for other sites, anchors and schemes.
std::string InternalUrl(const std::string& base, std::string ref, const std::string& public_url) {
  if (!public_url.empty() && StartsWith(ref, public_url)) {
    ref = ref.substr(public_url.size());
    if (ref.empty() || ref[0] != '/') ref = "/" + ref;
  }
  if (ref.empty() || ref[0] == '#' || StartsWith(ref, "//")) return "";
  size_t colon = ref.find(':'), slash = ref.find('/');
  if (colon != std::string::npos && (slash == std::string::npos || colon < slash)) return "";  // a scheme
  std::string resolved = ResolveUrl(std::string(kCrawlBase) + base, ref);
  if (!StartsWith(resolved, std::string(kCrawlBase) + "/")) return "";
  std::string url = resolved.substr(std::string(kCrawlBase).size());
  size_t hash = url.find('#');
  if (hash != std::string::npos) url.resize(hash);
  return url;
}

std::map<std::string, std::string> ParseQuery(const std::string& q) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < q.size()) {
    size_t amp = q.find('&', pos);
    if (amp == std::string::npos) amp = q.size();
    std::string part = q.substr(pos, amp - pos);
    size_t eq = part.find('=');
    std::string key = part.substr(0, eq), value = eq == std::string::npos ? "" : part.substr(eq + 1);
    for (auto* s : {&key, &value})
      for (char& c : *s)
        if (c == '+') c = ' ';
    if (!key.empty()) out[UrlDecode(key)] = UrlDecode(value);
    pos = amp + 1;
  }
  return out;
}

std::string HostOf(const std::string& url) {
  size_t scheme = url.find("://");
  std::string rest = scheme == std::string::npos ? url : url.substr(scheme + 3);
  return rest.substr(0, rest.find('/'));
}

bool IsHtml(const std::string& ct) {
  return StartsWith(ct, "text/html") || StartsWith(ct, "application/vnd.pypi.simple.v1+html");
}
bool IsJson(const std::string& ct) {
  return StartsWith(ct, "application/json") || StartsWith(ct, "application/vnd.pypi.simple.v1+json");
}

std::string HeaderOf(const HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k.size() == name.size() &&
        std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
      return v;
  return "";
}

// The exporter's state for one run.
class Exporter {
 public:
  Exporter(const StaticExportOptions& o, Coordinator& c, const fs::path& root, StaticExportStats* stats)
      : options_(o), coordinator_(c), root_(root), stats_(stats),
        artifacts_(o.data_dir / "artifacts", 0) {}

  bool Run(std::string* err) {
    for (const char* seed : {"/", "/simple/", "/leaderboard", "/api/v1/projects", "/api/v1/leaderboard"})
      Enqueue(seed, "", true);
    const Store& store = coordinator_.store();
    store.Scan(Cf::kProjects, "", "", [&](std::string_view key, std::string_view) {
      Enqueue("/projects/" + UrlEncode(std::string(key)), "", true);
      return true;
    });
    store.Scan(Cf::kVolunteers, "", "", [&](std::string_view key, std::string_view) {
      Enqueue("/volunteers/" + UrlEncode(std::string(key)), "", true);
      return true;
    });
    store.Scan(Cf::kAccounts, "", "", [&](std::string_view key, std::string_view) {
      Enqueue("/accounts/" + UrlEncode(std::string(key)), "", true);
      return true;
    });
    while (!queue_.empty()) {
      if (queued_.size() > options_.max_pages) {
        *err = "the site has more than " + std::to_string(options_.max_pages) +
               " pages; raise StaticExportOptions::max_pages";
        return false;
      }
      Item item = std::move(queue_.front());
      queue_.pop_front();
      if (!Visit(item, err)) return false;
    }
    return true;
  }

 private:
  struct Item {
    std::string url, referrer;
    bool seed = false;  // not linked from a page: an error answer is no broken link
  };

  void Enqueue(const std::string& url, const std::string& referrer, bool seed) {
    if (queued_.insert(url).second) queue_.push_back({url, referrer, seed});
  }

  HttpResponse Get(const std::string& url, const std::string& accept, const std::string& if_none_match = "") {
    HttpRequest req;
    req.method = "GET";
    req.target = url;
    size_t q = url.find('?');
    req.path = UrlDecode(url.substr(0, q));
    if (q != std::string::npos) req.query = ParseQuery(url.substr(q + 1));
    req.headers["host"] = HostOf(options_.public_url);
    req.headers["accept"] = accept;
    if (!if_none_match.empty()) req.headers["if-none-match"] = if_none_match;
    req.remote_addr = "127.0.0.1";
    HttpResponse r = coordinator_.Handle(req);
    if (r.shared_body) {  // the export rewrites and writes bodies: one plain string
      r.body = *r.shared_body;
      r.shared_body.reset();
    }
    return r;
  }

  bool Write(const std::string& rel, const std::string& data, std::string* err) {
    fs::path path = root_ / rel;
    if (!EnsureDir(path.parent_path(), err)) return false;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.close();
    if (!out) {
      *err = "cannot write " + path.string();
      return false;
    }
    Count(rel, static_cast<int64_t>(data.size()));
    return true;
  }

  void Count(const std::string& rel, int64_t bytes) {
    stats_->bytes += bytes;
    size_t slash = rel.find('/');
    auto& section = stats_->sections[slash == std::string::npos ? "" : rel.substr(0, slash + 1)];
    ++section.first;
    section.second += bytes;
  }

  // A published wheel: a hard link to (or a copy of) the artifact, after the
  // route confirmed it is published (304 to its own ETag, body unread).
  bool ExportWheel(const Item& item, const std::string& path, bool* done, std::string* err) {
    *done = false;
    std::string rest = path.substr(8);  // after "/wheels/"
    std::string sha = rest.substr(0, rest.find('/'));
    if (!ArtifactStore::IsSha256(sha)) return true;
    HttpResponse r = Get(item.url, "*/*", "\"" + sha + "\"");
    if (r.status != 304) return true;  // not published (or odd): the plain path reports it
    std::string rel = StaticFileFor(path, "application/octet-stream");
    if (rel.empty() || !written_.insert(rel).second) {
      *done = true;
      return true;
    }
    fs::path dest = root_ / rel;
    if (!EnsureDir(dest.parent_path(), err)) return false;
    std::error_code ec;
    fs::path src = artifacts_.PathOf(sha);
    fs::create_hard_link(src, dest, ec);
    if (!ec) {
      ++stats_->linked_wheels;
    } else if (!fs::copy_file(src, dest, fs::copy_options::overwrite_existing, ec)) {
      *err = "copying wheel " + src.string() + " to " + dest.string() + ": " + ec.message();
      return false;
    }
    ++stats_->wheels;
    Count(rel, static_cast<int64_t>(fs::file_size(dest, ec)));
    *done = true;
    return true;
  }

  bool Visit(const Item& item, std::string* err) {
    std::string path = UrlDecode(item.url.substr(0, item.url.find('?')));
    if (StartsWith(path, "/wheels/") && !EndsWith(path, ".metadata")) {
      // Its PEP 658 metadata is named by the page's data-core-metadata
      // attribute, not linked: export it beside every wheel.
      Enqueue(item.url + ".metadata", item.url, true);
      bool done = false;
      if (!ExportWheel(item, path, &done, err)) return false;
      if (done) return true;
    }
    HttpResponse r = Get(item.url, "text/html");
    if (r.status >= 300 && r.status < 400) {
      std::string location = HeaderOf(r, "Location");
      std::string next = location.empty() ? "" : InternalUrl(item.url, location, options_.public_url);
      if (!next.empty()) Enqueue(next, item.referrer, item.seed);
      return true;
    }
    if (r.status != 200) {
      if (!item.seed) {
        ++stats_->broken_links;
        spdlog::warn("export: {} (linked from {}) answers HTTP {}; the link stays broken in the export",
                     item.url, item.referrer, r.status);
      }
      return true;
    }
    // Where the page is served in the export, and so what its relative links mean.
    std::string served = StaticUrlFor(item.url);
    std::string served_path = UrlDecode(served);
    std::string rel = StaticFileFor(served_path, r.content_type);
    if (rel.empty()) {
      spdlog::warn("export: {} cannot be a file name; left out", item.url);
      return true;
    }
    if (!written_.insert(rel).second) return true;  // "/x" and "/x/" are one page
    bool html = IsHtml(r.content_type), json = IsJson(r.content_type);
    if (html) {
      bool directory = rel.size() >= 10 && rel.substr(rel.size() - 10) == "index.html";
      std::string base = directory && served.back() != '/' ? served + "/" : served;
      std::string body;
      size_t copied = 0;
      for (const AttrRef& a : FindLinks(r.body)) {
        std::string url = InternalUrl(base, a.value, options_.public_url);
        if (url.empty()) continue;
        Enqueue(url, item.url, false);
        if (url.find('?') == std::string::npos) continue;
        body.append(r.body, copied, a.begin - copied);
        body += site::HtmlEscape(StaticUrlFor(url));
        copied = a.end;
      }
      if (copied > 0) {
        body.append(r.body, copied, std::string::npos);
        r.body = std::move(body);
      }
      // The JSON twin of a site page: /X -> /api/v1/X.
      if (!StartsWith(item.url, "/api/") && item.url != "/") Enqueue("/api/v1" + item.url, item.url, true);
    }
    if (!Write(rel, r.body, err)) return false;
    if (html) ++stats_->html_pages;
    else if (json) ++stats_->json_documents;
    else if (StartsWith(path, "/wheels/")) ++stats_->metadata_files;
    else ++stats_->other_files;
    // A page negotiated by Accept (/simple/): its JSON form beside it.
    if (HeaderOf(r, "Vary") == "Accept" && html) {
      HttpResponse j = Get(item.url, "application/vnd.pypi.simple.v1+json");
      if (j.status == 200 && IsJson(j.content_type)) {
        std::string jrel = StaticFileFor(served_path, j.content_type);
        if (!jrel.empty() && written_.insert(jrel).second) {
          if (!Write(jrel, j.body, err)) return false;
          ++stats_->json_documents;
        }
      }
    }
    return true;
  }

  const StaticExportOptions& options_;
  Coordinator& coordinator_;
  fs::path root_;
  StaticExportStats* stats_;
  ArtifactStore artifacts_;
  std::deque<Item> queue_;
  std::set<std::string> queued_, written_;
};

bool IsEmptyDir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::directory_iterator(dir, ec) == fs::directory_iterator();
}

}  // namespace

std::string StaticFileFor(const std::string& url_path, const std::string& content_type) {
  if (url_path.empty() || url_path[0] != '/' || url_path.find('\0') != std::string::npos ||
      url_path.find('\\') != std::string::npos)
    return "";
  std::string p = url_path.substr(1);
  // No segment may climb out of the export or name the current folder.
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t slash = p.find('/', pos);
    std::string seg = p.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (seg == "." || seg == ".." || (seg.empty() && slash != std::string::npos)) return "";
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  bool json = IsJson(content_type), html = IsHtml(content_type);
  const char* index = json ? "index.json" : "index.html";
  if (p.empty() || p.back() == '/') return p + index;
  std::string last = p.substr(p.rfind('/') == std::string::npos ? 0 : p.rfind('/') + 1);
  if (last.find('.') != std::string::npos) return p;  // badge.svg, feed.atom, x.whl.metadata
  if (html || json) return p + "/" + index;
  return p;
}

std::string StaticUrlFor(const std::string& url) {
  size_t q = url.find('?');
  if (q == std::string::npos) return url;
  std::string path = url.substr(0, q), query = url.substr(q + 1), safe;
  for (char c : query) {
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '=' || c == ',';
    safe += keep ? c : c == '&' ? ',' : '_';
  }
  if (safe.empty()) return path;
  if (path.empty() || path.back() != '/') path += '/';
  return path + safe + "/";
}

std::string DescribeExport(const fs::path& out_dir, const StaticExportStats& st) {
  auto human = [](int64_t bytes) {
    char buf[32];
    if (bytes >= (1 << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
    else if (bytes >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
    else std::snprintf(buf, sizeof buf, "%lld bytes", static_cast<long long>(bytes));
    return std::string(buf);
  };
  char line[512];
  std::string out;
  std::snprintf(line, sizeof line,
                "exported to %s in %.1f s: %lld HTML pages, %lld JSON documents, %lld wheels "
                "(%lld hard-linked) with %lld metadata files, %lld other files; %s\n",
                out_dir.c_str(), st.seconds, static_cast<long long>(st.html_pages),
                static_cast<long long>(st.json_documents), static_cast<long long>(st.wheels),
                static_cast<long long>(st.linked_wheels), static_cast<long long>(st.metadata_files),
                static_cast<long long>(st.other_files), human(st.bytes).c_str());
  out += line;
  for (const auto& [section, fb] : st.sections) {
    std::snprintf(line, sizeof line, "  %-16s %7lld files  %s\n",
                  section.empty() ? "(root)" : ("/" + section).c_str(),
                  static_cast<long long>(fb.first), human(fb.second).c_str());
    out += line;
  }
  if (st.broken_links > 0) {
    std::snprintf(line, sizeof line,
                  "  %lld same-site links answered with an error (logged above); they stay broken\n",
                  static_cast<long long>(st.broken_links));
    out += line;
  }
  return out;
}

bool ExportStatic(const StaticExportOptions& options, StaticExportStats* stats, std::string* err) {
  auto started = std::chrono::steady_clock::now();
  *stats = StaticExportStats();
  std::error_code ec;
  fs::path out = fs::absolute(options.out_dir, ec).lexically_normal();
  if (!out.has_filename()) out = out.parent_path();
  if (fs::exists(out, ec) && !IsEmptyDir(out) && !fs::exists(out / kMarker, ec)) {
    *err = out.string() + " exists and is not an earlier export (it has no " + kMarker +
           "); choose a new or empty folder";
    return false;
  }
  if (!fs::exists(options.data_dir / "db", ec)) {
    *err = "no coordinator data in " + options.data_dir.string() + " (no db/ folder); pass the --data of `corral serve`";
    return false;
  }
  Options co;
  co.data_dir = options.data_dir;
  co.read_only = true;
  co.public_url = options.public_url;
  Coordinator coordinator(co);
  if (!coordinator.Open(err)) return false;

  fs::path staging = out;
  staging += ".partial";
  fs::remove_all(staging, ec);
  if (!EnsureDir(staging, err)) return false;
  Exporter exporter(options, coordinator, staging, stats);
  if (!exporter.Run(err)) {
    fs::remove_all(staging, ec);
    return false;
  }
  stats->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  nlohmann::json marker = {{"exported_at", NowSeconds()},
                           {"data", fs::absolute(options.data_dir).string()},
                           {"html_pages", stats->html_pages},
                           {"json_documents", stats->json_documents},
                           {"wheels", stats->wheels},
                           {"bytes", stats->bytes}};
  if (!WriteFileAtomic(staging / kMarker, marker.dump(2) + "\n", err)) return false;

  // Swap the finished export in; a server sees the old tree or the new one.
  fs::path old = out;
  old += ".old";
  fs::remove_all(old, ec);
  if (fs::exists(out, ec)) {
    fs::rename(out, old, ec);
    if (ec) {
      *err = "cannot move the previous export " + out.string() + " aside: " + ec.message();
      return false;
    }
  }
  fs::rename(staging, out, ec);
  if (ec) {
    *err = "cannot move " + staging.string() + " to " + out.string() + ": " + ec.message();
    return false;
  }
  fs::remove_all(old, ec);
  return true;
}

}  // namespace corral::coordinator
