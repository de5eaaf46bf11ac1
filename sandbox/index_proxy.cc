#include "sandbox/index_proxy.h"

#include <curl/curl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <set>

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
Upstream Fetch(const std::string& url, const std::string& accept, uint64_t cap, int timeout_s) {
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

}  // namespace

struct IndexProxy::Impl {
  asio::io_context io;
  Local::acceptor acceptor{io};
  std::string index_scheme, index_host, index_path;
  std::set<std::string> hosts;  // allowed "host[:port]", the index's included

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
    auto refuse = [&](http::status status, const std::string& why) {
      res.result(status);
      res.set(http::field::content_type, "text/plain");
      res.body() = why + "\n";
      note = why;
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
        auto accept = req[http::field::accept];
        Upstream up = Fetch(upstream, std::string(accept), options_.max_response_bytes,
                            options_.upstream_timeout_s);
        if (up.too_large) {
          refuse(http::status::bad_gateway, "answer of " + upstream + " is over " +
                                                std::to_string(options_.max_response_bytes >> 20) +
                                                " MiB");
        } else if (!up.error.empty()) {
          refuse(http::status::bad_gateway, upstream + ": " + up.error);
        } else {
          res.result(static_cast<unsigned>(up.status));
          bool text = up.content_type.find("html") != std::string::npos ||
                      up.content_type.find("json") != std::string::npos;
          res.body() = text ? m.Rewrite(up.body) : std::move(up.body);
          if (!up.content_type.empty()) res.set(http::field::content_type, up.content_type);
          if (!up.location.empty()) res.set(http::field::location, m.Rewrite(up.location));
          bytes_ += res.body().size();
          note = std::to_string(res.body().size()) + " bytes (" + upstream + ")";
        }
      }
    }
    res.prepare_payload();
    {
      // Logged before the answer goes out, so a client that has its answer
      // also finds the request in the log.
      std::lock_guard<std::mutex> lock(log_mu_);
      log_.push_back(line + " -> " + std::to_string(res.result_int()) + " " + note);
    }
    http::write(sock, res, ec);
    sock.shutdown(Local::socket::shutdown_send, ec);
  }
}

}  // namespace corral::sandbox
