// A blocking HTTP client on libcurl, for the volunteer (coordinator API,
// downloads) and the coordinator (index sync). Each call uses its own curl
// handle, so one HttpClient may be used from several threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace corral {

struct HttpResult {
  long status = 0;             // 0 when no HTTP answer came (see error)
  std::string body;
  std::map<std::string, std::string> headers;  // keys in lower case
  std::string error;           // transport error ("connection refused"), or ""

  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  // "HTTP 404: {...}" or the transport error, for messages.
  std::string Describe() const;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpClientOptions {
  long connect_timeout_ms = 5000;
  long timeout_ms = 60000;           // whole transfer
  size_t max_body_bytes = 256 << 20;  // larger answers fail
  std::string user_agent = "corral/0.1";
  // Send from this local IP address (CURLOPT_INTERFACE); "" lets the system
  // choose. A simulation on one machine speaks from many 127.a.b.c.
  std::string local_address;
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options = {});

  HttpResult Get(const std::string& url, const Headers& headers = {}) const;
  HttpResult Post(const std::string& url, const std::string& body, const Headers& headers = {}) const;
  HttpResult Put(const std::string& url, const std::string& body, const Headers& headers = {}) const;
  // Streams the body to `dest` while hashing it; refuses more than
  // max_bytes. *sha256 gets the hex digest of what was written.
  HttpResult Download(const std::string& url, const std::filesystem::path& dest, size_t max_bytes,
                      std::string* sha256) const;

 private:
  HttpResult Perform(const std::string& method, const std::string& url, const std::string* body,
                     const Headers& headers) const;
  HttpClientOptions options_;
};

// Resolves a possibly relative reference against a base URL, as browsers
// and pip do ("../../files/x.tar.gz" against "http://h/simple/p/").
std::string ResolveUrl(const std::string& base, const std::string& ref);
// "http://127.0.0.1:8080/path?q" -> "/path?q"
std::string UrlPathOf(const std::string& url);
// "http://h:8080/a" -> "h:8080" (the authority, without user info); "" when
// `url` has no scheme.
std::string UrlHostOf(const std::string& url);

}  // namespace corral
