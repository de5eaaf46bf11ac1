// A small asynchronous HTTP/1.1 server on Boost.Beast, shared by the
// coordinator and the local index. It owns the sockets and two sets of
// threads; what to answer is the handler's business. GET and HEAD requests,
// which only read, are answered on the I/O threads (one per core), so that a
// download costs no hand-over between threads; other methods, which may wait
// for the disk (a result waits for a shared fsync), go to a pool of handler
// threads, so that waiting writers never hold up readers. Handlers run on
// either, so they must be thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corral {

// One parsed request, as handlers see it.
struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // path and query as received
  std::string path;                            // percent-decoded path, no query
  std::map<std::string, std::string> query;    // decoded query parameters
  std::map<std::string, std::string> headers;  // keys in lower case
  std::string body;
  std::string remote_addr;                     // peer IP address, no port

  // The header's value, or "" when absent. `name` in lower case.
  const std::string& Header(const std::string& name) const;
  // The query parameter's value, or "" when absent.
  const std::string& Param(const std::string& name) const;
};

// What a handler answers.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Bytes shared with a cache (a published wheel): sent instead of `body`,
  // never copied. Content() reads whichever is set.
  std::shared_ptr<const std::string> shared_body;
  std::vector<std::pair<std::string, std::string>> headers;

  const std::string& Content() const { return shared_body ? *shared_body : body; }

  // Strings that are not UTF-8 are sent with U+FFFD in place of their bad
  // bytes; never throws.
  static HttpResponse Json(int status, const nlohmann::json& body);
  // The protocol's error shape: {"error": code, "detail": human text}.
  static HttpResponse Error(int status, const std::string& code, const std::string& detail);
  static HttpResponse Html(int status, std::string body);
  static HttpResponse Redirect(int status, const std::string& location);
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  int threads = 4;                          // handler threads for requests other than GET and HEAD
  int io_threads = 0;                       // I/O threads, which also answer GET and HEAD; 0: one per core
  size_t max_body_bytes = 64 << 20;         // larger bodies get 413
  // The body limit of one route, asked once its headers are read and before
  // any of its body is buffered: (method, percent-decoded path) -> bytes;
  // 0 or unset: max_body_bytes (which always caps it). A larger body gets
  // 413 "body_too_large" and the connection is closed. Called on I/O
  // threads: it must not block.
  std::function<size_t(const std::string& method, const std::string& path)> route_body_limit;
  // Asked once a request's headers are read, before any of its body: the
  // request as a handler would see it but with an empty body. An answer is
  // sent as is (the connection then closes, its body unread); nullopt reads
  // the body. For checks that need no body (a signed request's key, date and
  // nonce). Called on I/O threads: it must not block.
  std::function<std::optional<HttpResponse>(const HttpRequest& headers_only)> check_headers;
  // Bytes of request bodies all connections together may hold at once
  // (reserved from Content-Length, or the route's limit for a chunked body,
  // when the headers are read; released when the answer is written). A
  // request that would pass it gets 503 "busy" before its body is read.
  size_t max_buffered_bytes = size_t{256} << 20;
  int idle_timeout_s = 30;                  // keep-alive connections idle longer are closed
  // Requests other than GET and HEAD for which this returns true are answered
  // on the I/O thread too, ahead of the handler pool's queue: handlers that
  // never wait for the disk and must stay prompt under load (a lease).
  std::function<bool(const HttpRequest&)> answer_inline;
};

class HttpServer {
 public:
  HttpServer(HttpHandler handler, HttpServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0 picks a free one) and starts serving on the pool.
  // Returns false with *err naming the address and the system's reason.
  bool Start(const std::string& host, int port, std::string* err);
  // The bound port, once started.
  int port() const;
  // Stops accepting, closes connections and joins the pool. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses `raw`, one HTTP/1.1 request as a client sends it, the way the
// server does (Beast's parser, `body_limit` bytes of body at most, the same
// HttpRequest a handler gets, from 127.0.0.1). False with *refusal the 4xx
// answer the server gives instead: 400 bad_request when it does not parse or
// is incomplete, 413 body_too_large, 400 bad_encoding for a part that is not
// UTF-8. For the fuzz target of the request path; no locking, no I/O.
bool ParseRawRequest(std::string_view raw, size_t body_limit, HttpRequest* out, HttpResponse* refusal);

// Percent-decodes a URL component ("a%20b" -> "a b"; '+' stays '+').
std::string UrlDecode(const std::string& s);
// Percent-encodes everything but unreserved characters.
std::string UrlEncode(const std::string& s);

// A TCP port on 127.0.0.1 that was free a moment ago, for a child process
// that must be told its port before it starts (another process may take it
// meanwhile: callers that can, listen on port 0 instead). 0 on failure.
int FreeLoopbackPort();

}  // namespace corral
