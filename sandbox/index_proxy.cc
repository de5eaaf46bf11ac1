#include "sandbox/index_proxy.h"

#include <curl/curl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/http_client.h"

namespace corral::sandbox {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Local = asio::local::stream_protocol;

namespace {

// "http://h:p/a/b" -> scheme "http", host "h:p", path "/a/b"; false when not http(s).
bool SplitUrl(const std::string& url, std::string* scheme, std::string* host, std::string* path) {
  size_t sep = url.find("://");
  if (sep == std::string::npos) return false;
  *scheme = url.substr(0, sep);
  if (*scheme != "http" && *scheme != "https") return false;
  size_t slash = url.find('/', sep + 3);
  *host = url.substr(sep + 3, slash == std::string::npos ? std::string::npos : slash - sep - 3);
  *path = slash == std::string::npos ? "/" : url.substr(slash);
  return !host->empty() && host->find('@') == std::string::npos;
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

struct Upstream {
  long status = 0;
  std::string body, content_type, location, error;
  bool too_large = false;
};

struct Sink {
  Upstream* up;
  uint64_t cap;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  if (s->up->body.size() + size * n > s->cap) {
    s->up->too_large = true;
    return 0;  // aborts the transfer
  }
  s->up->body.append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* up = static_cast<Upstream*>(user);
  std::string line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string key = line.substr(0, colon);
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    size_t a = value.find_first_not_of(" \t"), b = value.find_last_not_of(" \t\r\n");
    value = a == std::string::npos ? "" : value.substr(a, b - a + 1);
    if (key == "content-type") up->content_type = value;
    if (key == "location") up->location = value;
  }
  return size * n;
}

// One GET, no redirects followed, body capped.
Upstream Fetch(const std::string& url, const std::string& accept, uint64_t cap, int timeout_s,
               const std::string& source_address) {
  Upstream up;
  CURL* curl = curl_easy_init();
  if (!curl) {
    up.error = "cannot start libcurl";
    return up;
  }
  Sink sink{&up, cap};
  curl_slist* headers = nullptr;
  if (!accept.empty()) headers = curl_slist_append(headers, ("Accept: " + accept).c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (!source_address.empty()) curl_easy_setopt(curl, CURLOPT_INTERFACE, ("host!" + source_address).c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(timeout_s));
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "corral-index-proxy/0.1");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &up);
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK)
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &up.status);
  else if (!up.too_large)
    up.error = curl_easy_strerror(rc);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return up;
}

bool IsSha256Hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string HtmlUnescape(std::string s) { return ReplaceAll(std::move(s), "&amp;", "&"); }

// The value of attribute `name` inside one tag's text, or "".
std::string Attribute(const std::string& tag, const std::string& name) {
  size_t at = tag.find(name + "=\"");
  if (at == std::string::npos) return "";
  at += name.size() + 2;
  size_t end = tag.find('"', at);
  return end == std::string::npos ? "" : HtmlUnescape(tag.substr(at, end - at));
}

// Every (absolute file URL, sha256) an index page states: PEP 691 JSON
// (`hashes`, `core-metadata` / `dist-info-metadata` for URL.metadata) or
// PEP 503 HTML (`#sha256=` fragments, `data-core-metadata` /
// `data-dist-info-metadata`). URLs are resolved against the page's own URL.
void LearnHashes(const std::string& page_url, const std::string& body, bool json,
                 std::map<std::string, std::string>* out) {
  auto add = [&](const std::string& href, const std::string& sha) {
    if (href.empty() || !IsSha256Hex(sha)) return;
    (*out)[ResolveUrl(page_url, href.substr(0, href.find('#')))] = sha;
  };
  if (json) {
    nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
    if (!doc.is_object() || !doc.contains("files") || !doc["files"].is_array()) return;
    for (const auto& f : doc["files"]) {
      if (!f.is_object() || !f.contains("url") || !f["url"].is_string()) continue;
      std::string url = f["url"].get<std::string>();
      if (f.contains("hashes") && f["hashes"].is_object() && f["hashes"].contains("sha256") &&
          f["hashes"]["sha256"].is_string())
        add(url, f["hashes"]["sha256"].get<std::string>());
      for (const char* key : {"core-metadata", "dist-info-metadata", "data-dist-info-metadata"})
        if (f.contains(key) && f[key].is_object() && f[key].contains("sha256") && f[key]["sha256"].is_string())
          add(url.substr(0, url.find('#')) + ".metadata", f[key]["sha256"].get<std::string>());
    }
    return;
  }
  for (size_t at = body.find("<a "); at != std::string::npos; at = body.find("<a ", at + 3)) {
    size_t end = body.find('>', at);
    if (end == std::string::npos) break;
    std::string tag = body.substr(at, end - at);
    std::string href = Attribute(tag, "href");
    size_t frag = href.find("#sha256=");
    if (frag != std::string::npos) add(href, href.substr(frag + 8, 64));
    for (const char* key : {"data-core-metadata", "data-dist-info-metadata"}) {
      std::string v = Attribute(tag, key);
      if (v.rfind("sha256=", 0) == 0) add(href.substr(0, href.find('#')) + ".metadata", v.substr(7));
    }
  }
}

}  // namespace

struct IndexProxy::Impl {
  asio::io_context io;
  Local::acceptor acceptor{io};
  std::string index_scheme, index_host, index_path;
  std::set<std::string> hosts;  // allowed "host[:port]", the index's included
  std::map<std::string, std::string> sha_by_url;  // learned from served pages (serving thread only)

  // A cached file's bytes when cache_dir holds `sha` intact.
  bool FromCache(const std::filesystem::path& dir, const std::string& sha, std::string* bytes) const {
    if (dir.empty()) return false;
    std::string err;
    std::filesystem::path file = dir / sha;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec) || !ReadFile(file, bytes, &err)) return false;
    if (Sha256Hex(*bytes) != sha) return false;  // damaged: fetch again (and replace it)
    std::filesystem::last_write_time(file, std::filesystem::file_time_type::clock::now(), ec);
    return true;
  }

  // Adds checked bytes under their sha256 (atomic rename; a racing writer
  // of the same content is harmless).
  void ToCache(const std::filesystem::path& dir, const std::string& sha, const std::string& bytes) const {
    if (dir.empty()) return;
    std::string err;
    std::filesystem::path part = dir / (sha + ".part-" + RandomHex(4));
    if (!EnsureDir(dir, &err) || !WriteFileAtomic(part, bytes, &err)) return;
    std::error_code ec;
    std::filesystem::rename(part, dir / sha, ec);
    if (ec) std::filesystem::remove(part, ec);
  }

  // Absolute links to allowed hosts become /__upstream/ paths.
  std::string Rewrite(std::string text) const {
    for (const std::string& h : hosts)
      for (const char* scheme : {"http", "https"})
        text = ReplaceAll(text, std::string(scheme) + "://" + h + "/",
                          "/__upstream/" + std::string(scheme) + "/" + h + "/");
    return text;
  }
};

IndexProxy::IndexProxy(IndexProxyOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>()) {}

IndexProxy::~IndexProxy() { Stop(); }

bool IndexProxy::Start(std::string* err) {
  Impl& m = *impl_;
  if (!SplitUrl(options_.index_url, &m.index_scheme, &m.index_host, &m.index_path)) {
    *err = "index URL '" + options_.index_url + "' is not an http(s) URL";
    return false;
  }
  if (m.index_path.empty() || m.index_path.back() != '/') m.index_path += "/";
  m.hosts.insert(m.index_host);
  for (const auto& h : options_.extra_hosts) m.hosts.insert(h);
  std::error_code fec;
  std::filesystem::remove(options_.socket_path, fec);
  beast::error_code ec;
  m.acceptor.open(Local(), ec);
  if (!ec) m.acceptor.bind(Local::endpoint(options_.socket_path.string()), ec);
  if (!ec) m.acceptor.listen(16, ec);
  if (ec) {
    *err = "cannot listen on " + options_.socket_path.string() + ": " + ec.message();
    return false;
  }
  chmod(options_.socket_path.c_str(), 0666);
  m.acceptor.non_blocking(true, ec);
  thread_ = std::thread([this] { Serve(); });
  return true;
}

void IndexProxy::Stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  thread_.join();
  beast::error_code ec;
  impl_->acceptor.close(ec);
  std::error_code fec;
  std::filesystem::remove(options_.socket_path, fec);
}

IndexProxyStats IndexProxy::Stats() const {
  std::lock_guard<std::mutex> lock(log_mu_);
  IndexProxyStats s = stats_;
  s.requests = requests_;
  return s;
}

std::vector<std::string> IndexProxy::TakeLog() {
  std::lock_guard<std::mutex> lock(log_mu_);
  std::vector<std::string> out;
  out.swap(log_);
  return out;
}

void IndexProxy::Serve() {
  Impl& m = *impl_;
  while (!stopping_) {
    struct pollfd p = {m.acceptor.native_handle(), POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    beast::error_code ec;
    Local::socket sock(m.io);
    m.acceptor.accept(sock, ec);
    if (ec) continue;
    // A client that stalls must not hold the proxy for long.
    struct timeval tv = {10, 0};
    setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(sock.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    beast::flat_buffer buffer;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(16 * 1024);
    http::read(sock, buffer, parser, ec);
    http::response<http::string_body> res;
    res.version(11);
    res.keep_alive(false);
    std::string line, note;
    bool failure = false;  // the index (or this proxy's limits) failed the request
    bool from_cache = false, fetched = false;
    auto refuse = [&](http::status status, const std::string& why) {
      res.result(status);
      res.set(http::field::content_type, "text/plain");
      res.body() = why + "\n";
      note = why;
      failure = status != http::status::not_found;
    };
    if (ec) {
      refuse(http::status::bad_request, "unreadable request: " + ec.message());
      line = "?";
    } else {
      const auto& req = parser.get();
      std::string target(req.target());
      line = std::string(req.method_string()) + " " + target;
      std::string upstream;
      if (req.method() != http::verb::get) {
        refuse(http::status::method_not_allowed, "only GET is allowed");
      } else if (requests_++ >= options_.max_requests) {
        refuse(http::status::too_many_requests,
               "more than " + std::to_string(options_.max_requests) + " requests");
      } else if (bytes_ >= options_.max_total_bytes) {
        refuse(http::status::too_many_requests,
               "more than " + std::to_string(options_.max_total_bytes >> 20) + " MiB served");
      } else if (target.find("..") != std::string::npos || target.find('#') != std::string::npos ||
                 target.empty() || target[0] != '/') {
        refuse(http::status::bad_request, "bad path");
      } else if (target.rfind("/__upstream/", 0) == 0) {
        std::string rest = target.substr(12);
        size_t a = rest.find('/'), b = a == std::string::npos ? a : rest.find('/', a + 1);
        std::string scheme = rest.substr(0, a);
        std::string host = a == std::string::npos ? "" : rest.substr(a + 1, b == std::string::npos ? b : b - a - 1);
        if ((scheme != "http" && scheme != "https") || b == std::string::npos)
          refuse(http::status::bad_request, "bad upstream path");
        else if (!m.hosts.count(host))
          refuse(http::status::forbidden, "host " + host + " is not allowed");
        else
          upstream = scheme + "://" + host + rest.substr(b);
      } else {
        // The index's own host: its pages and the files they link to with
        // relative URLs (a local index's ../../files/NAME, say).
        upstream = m.index_scheme + "://" + m.index_host + target;
      }
      if (!upstream.empty()) {
        auto known = m.sha_by_url.find(upstream);
        std::string sha = known == m.sha_by_url.end() ? "" : known->second;
        std::string cached;
        if (!sha.empty() && m.FromCache(options_.cache_dir, sha, &cached)) {
          res.result(http::status::ok);
          res.set(http::field::content_type, "application/octet-stream");
          res.body() = std::move(cached);
          bytes_ += res.body().size();
          from_cache = true;
          note = std::to_string(res.body().size()) + " bytes (cache, sha256 " + sha.substr(0, 12) + ")";
        } else {
          auto accept = req[http::field::accept];
          Upstream up = Fetch(upstream, std::string(accept), options_.max_response_bytes,
                              options_.upstream_timeout_s, options_.source_address);
          bool text = up.content_type.find("html") != std::string::npos ||
                      up.content_type.find("json") != std::string::npos;
          if (up.too_large) {
            refuse(http::status::bad_gateway, "answer of " + upstream + " is over " +
                                                  std::to_string(options_.max_response_bytes >> 20) +
                                                  " MiB");
          } else if (!up.error.empty()) {
            refuse(http::status::bad_gateway, upstream + ": " + up.error);
          } else if (up.status >= 500 || up.status == 429) {
            refuse(http::status::bad_gateway,
                   upstream + " answered " + std::to_string(up.status) + " (the index is failing)");
          } else if (!sha.empty() && up.status == 200 && Sha256Hex(up.body) != sha) {
            refuse(http::status::bad_gateway, upstream + " does not match the sha256 its index page states (" +
                                                  sha + "); not passed on");
          } else {
            if (up.status == 200 && text)
              LearnHashes(upstream, up.body, up.content_type.find("json") != std::string::npos, &m.sha_by_url);
            if (up.status == 200 && !sha.empty()) {
              m.ToCache(options_.cache_dir, sha, up.body);
              fetched = true;
            }
            res.result(static_cast<unsigned>(up.status));
            uint64_t upstream_bytes = up.body.size();
            res.body() = text ? m.Rewrite(up.body) : std::move(up.body);
            if (!up.content_type.empty()) res.set(http::field::content_type, up.content_type);
            if (!up.location.empty()) res.set(http::field::location, m.Rewrite(up.location));
            bytes_ += res.body().size();
            note = std::to_string(res.body().size()) + " bytes (" + upstream + ")";
            std::lock_guard<std::mutex> lock(log_mu_);
            stats_.bytes_fetched += upstream_bytes;
          }
        }
      }
    }
    res.prepare_payload();
    {
      // Logged before the answer goes out, so a client that has its answer
      // also finds the request in the log.
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.push_back(line + " -> " + std::to_string(res.result_int()) + " " + note);
      if (failure) stats_.failures.push_back(line + " -> " + std::to_string(res.result_int()) + " " + note);
      stats_.files_from_cache += from_cache;
      stats_.files_fetched += fetched;
    }
    http::write(sock, res, ec);
    sock.shutdown(Local::socket::shutdown_send, ec);
  }
}

}  // namespace corral::sandbox
