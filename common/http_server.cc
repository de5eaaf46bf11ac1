#include "common/http_server.h"

#include "common/text.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <thread>

namespace corral {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

const std::string kEmpty;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::map<std::string, std::string> ParseQuery(const std::string& q) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= q.size()) {
    size_t amp = q.find('&', pos);
    if (amp == std::string::npos) amp = q.size();
    std::string part = q.substr(pos, amp - pos);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string key = part.substr(0, eq), value;
      if (eq != std::string::npos) value = part.substr(eq + 1);
      for (auto* s : {&key, &value})
        for (char& c : *s)
          if (c == '+') c = ' ';
      out[UrlDecode(key)] = UrlDecode(value);
    }
    pos = amp + 1;
  }
  return out;
}

// What part of the request is not UTF-8 ("path", "query", "header x"), or "".
std::string NotUtf8(const HttpRequest& r) {
  if (!IsValidUtf8(r.method) || !IsValidUtf8(r.target) || !IsValidUtf8(r.path)) return "path";
  for (const auto& [k, v] : r.query)
    if (!IsValidUtf8(k) || !IsValidUtf8(v)) return "query";
  for (const auto& [k, v] : r.headers)
    if (!IsValidUtf8(k) || !IsValidUtf8(v)) return "header " + (IsValidUtf8(k) ? k : std::string("name"));
  return "";
}

// A request Beast parsed, as handlers see it (path decoded, query split,
// header names in lower case). False with *refusal (400 bad_encoding) when a
// part is not UTF-8: handlers echo paths and names into JSON, whose
// serialiser throws on invalid UTF-8, so it is refused here, once, for every
// route.
bool FromParsed(http::request<http::string_body>& req, const std::string& remote_addr, HttpRequest* r,
                HttpResponse* refusal) {
  r->method = std::string(req.method_string());
  r->target = std::string(req.target());
  size_t qm = r->target.find('?');
  r->path = UrlDecode(r->target.substr(0, qm));
  if (qm != std::string::npos) r->query = ParseQuery(r->target.substr(qm + 1));
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r->headers[name] = std::string(field.value());
  }
  r->body = std::move(req.body());
  r->remote_addr = remote_addr;
  if (std::string bad = NotUtf8(*r); !bad.empty()) {
    *refusal = HttpResponse::Error(400, "bad_encoding", "the request's " + bad + " is not valid UTF-8");
    return false;
  }
  return true;
}

// A response body that shares its bytes (HttpResponse::shared_body, or the
// handler's string moved into one) instead of copying them into the message.
struct SharedBody {
  using value_type = std::shared_ptr<const std::string>;

  static std::uint64_t size(const value_type& v) { return v ? v->size() : 0; }

  class writer {
   public:
    using const_buffers_type = asio::const_buffer;
    template <bool isRequest, class Fields>
    writer(const http::header<isRequest, Fields>&, const value_type& body) : body_(body) {}
    void init(beast::error_code& ec) { ec = {}; }
    boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec) {
      ec = {};
      if (!body_ || sent_ || body_->empty()) return boost::none;
      sent_ = true;
      return {{asio::const_buffer(body_->data(), body_->size()), false}};
    }

   private:
    const value_type& body_;
    bool sent_ = false;
  };
};

// One connection: read a request, answer it, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpHandler& handler, const HttpServerOptions& options,
          asio::thread_pool& writers, std::atomic<size_t>& buffered)
      : stream_(std::move(socket)), handler_(handler), options_(options), writers_(writers), buffered_(buffered) {
    beast::error_code ec;
    auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_addr_ = endpoint.address().to_string();
  }

  ~Session() { Release(); }

  void Start() { Read(); }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(64 * 1024);
    limit_ = options_.max_body_bytes;
    stream_.expires_after(std::chrono::seconds(options_.idle_timeout_s));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // The route is known once the headers are: its body limit applies before
  // any of the body is read, so a request cannot make the server buffer
  // more than its route takes.
  void OnHeader(beast::error_code ec) {
    if (ec) return OnRead(ec);
    if (options_.route_body_limit) {
      const auto& h = parser_->get();
      std::string target(h.target());
      size_t route = options_.route_body_limit(std::string(h.method_string()),
                                               UrlDecode(target.substr(0, target.find('?'))));
      if (route > 0 && route < limit_) limit_ = route;
      parser_->body_limit(limit_);
      if (parser_->content_length() && *parser_->content_length() > limit_)
        return OnRead(http::error::body_limit);
    }
    if (options_.check_headers) {
      HttpRequest headers_only;
      HttpResponse refusal;
      if (!FromParsed(parser_->get(), remote_addr_, &headers_only, &refusal)) return Write(std::move(refusal), false);
      if (std::optional<HttpResponse> early = options_.check_headers(headers_only))
        return Write(std::move(*early), false);
    }
    // The body's bytes are reserved from the budget of all connections
    // before any is read.
    size_t want = parser_->content_length() ? static_cast<size_t>(*parser_->content_length())
                                            : (parser_->chunked() ? limit_ : 0);
    if (want > 0) {
      if (buffered_.fetch_add(want) + want > options_.max_buffered_bytes) {
        buffered_.fetch_sub(want);
        return Write(HttpResponse::Error(503, "busy",
                                         "the server holds as many request bodies as it takes; retry in a few "
                                         "seconds"),
                     false);
      }
      reserved_ = want;
    }
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      return Close();
    }
    HttpResponse response;
    bool keep_alive = false;
    if (ec == http::error::body_limit) {
      response = HttpResponse::Error(413, "body_too_large",
                                     "the request body exceeds " + std::to_string(limit_) +
                                         " bytes, the most this route takes");
    } else if (ec) {
      response = HttpResponse::Error(400, "bad_request", "could not parse the request: " + ec.message());
    } else {
      auto& req = parser_->get();
      keep_alive = req.keep_alive();
      HttpRequest r;
      if (!FromParsed(req, remote_addr_, &r, &response)) return Write(std::move(response), keep_alive);
      if (r.method != "GET" && r.method != "HEAD" &&
          !(options_.answer_inline && options_.answer_inline(r))) {
        // May wait for the disk: on the handler pool, then back to this
        // connection's strand to answer.
        asio::post(writers_, [self = shared_from_this(), r = std::move(r), keep_alive]() mutable {
          HttpResponse response = self->Call(r);
          asio::post(self->stream_.get_executor(),
                     [self, response = std::move(response), keep_alive]() mutable {
                       self->Write(std::move(response), keep_alive);
                     });
        });
        return;
      }
      response = Call(r);
    }
    Write(std::move(response), keep_alive);
  }

  HttpResponse Call(const HttpRequest& r) {
    try {
      return handler_(r);
    } catch (const std::exception& e) {
      spdlog::error("handler failed on {} {}: {}", r.method, r.target, e.what());
      return HttpResponse::Error(500, "internal", std::string("internal error: ") + e.what());
    }
  }

  // Gives the request's reserved body bytes back to the budget. Idempotent.
  void Release() {
    if (reserved_) buffered_.fetch_sub(reserved_);
    reserved_ = 0;
  }

  void Write(HttpResponse response, bool keep_alive) {
    Release();
    auto res = std::make_shared<http::response<SharedBody>>();
    res->result(static_cast<http::status>(response.status));
    res->version(11);
    res->set(http::field::server, "corral");
    res->set(http::field::content_type, response.content_type);
    for (auto& [k, v] : response.headers) res->set(k, v);
    res->keep_alive(keep_alive);
    res->body() = response.shared_body ? std::move(response.shared_body)
                                       : std::make_shared<const std::string>(std::move(response.body));
    res->prepare_payload();
    stream_.expires_after(std::chrono::seconds(options_.idle_timeout_s));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec, size_t) {
                        if (ec || !keep_alive) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    Release();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpHandler& handler_;
  const HttpServerOptions& options_;
  asio::thread_pool& writers_;  // where requests other than GET and HEAD are handled
  std::string remote_addr_;  // the peer's address, read once per connection
  size_t limit_ = 0;         // the body limit of the request being read
  std::atomic<size_t>& buffered_;  // body bytes reserved by every connection (HttpServer::Impl)
  size_t reserved_ = 0;            // this request's share of it
};

}  // namespace

const std::string& HttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? kEmpty : it->second;
}

const std::string& HttpRequest::Param(const std::string& name) const {
  auto it = query.find(name);
  return it == query.end() ? kEmpty : it->second;
}

HttpResponse HttpResponse::Json(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  // A detail that echoes client bytes (a cut key, a name) may not be UTF-8:
  // replaced with U+FFFD rather than thrown, which would answer 500.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse HttpResponse::Error(int status, const std::string& code, const std::string& detail) {
  return Json(status, {{"error", code}, {"detail", detail}});
}

HttpResponse HttpResponse::Html(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Redirect(int status, const std::string& location) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace_back("Location", location);
  r.body = "see " + location + "\n";
  return r;
}

struct HttpServer::Impl {
  HttpHandler handler;
  HttpServerOptions options;
  std::atomic<size_t> buffered{0};  // before ioc: outlives every connection
  asio::io_context ioc;
  // Declared after ioc, so destroyed before it: a request still queued here
  // holds its connection, whose socket belongs to ioc.
  std::optional<asio::thread_pool> writers;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> pool;
  std::atomic<bool> stopped{false};
  int port = 0;

  void Accept() {
    acceptor->async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
        spdlog::warn("accept failed: {}", ec.message());
      } else {
        // Responses go out in one or more writes (headers, then the body):
        // without TCP_NODELAY, Nagle's algorithm holds the last segment back
        // until the client's delayed ACK, up to 40 ms per response.
        beast::error_code nodelay_ec;
        socket.set_option(tcp::no_delay(true), nodelay_ec);
        std::make_shared<Session>(std::move(socket), handler, options, *writers, buffered)->Start();
      }
      Accept();
    });
  }
};

HttpServer::HttpServer(HttpHandler handler, HttpServerOptions options) : impl_(new Impl) {
  impl_->handler = std::move(handler);
  impl_->options = options;
}

HttpServer::~HttpServer() { Stop(); }

bool HttpServer::Start(const std::string& host, int port, std::string* err) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) {
    *err = "cannot listen on '" + host + "': not an IP address (" + ec.message() +
           "); use for example 127.0.0.1 or ::1";
    return false;
  }
  tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  auto& acc = impl_->acceptor.emplace(impl_->ioc);
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *err = "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message() +
           " (is another process using that port? pick another with --port/--listen)";
    impl_->acceptor.reset();
    return false;
  }
  impl_->port = acc.local_endpoint().port();
  impl_->writers.emplace(static_cast<size_t>(std::max(1, impl_->options.threads)));
  impl_->Accept();
  int io_threads = impl_->options.io_threads > 0
                       ? impl_->options.io_threads
                       : static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  for (int i = 0; i < io_threads; ++i) impl_->pool.emplace_back([this] { impl_->ioc.run(); });
  return true;
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  if (impl_->acceptor) {
    asio::post(impl_->ioc, [this] {
      beast::error_code ec;
      impl_->acceptor->close(ec);
    });
  }
  // Requests being handled finish (their answers are not sent); queued ones
  // are dropped.
  if (impl_->writers) {
    impl_->writers->stop();
    impl_->writers->join();
  }
  impl_->ioc.stop();
  for (auto& t : impl_->pool)
    if (t.joinable()) t.join();
}

std::string UrlDecode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string UrlEncode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

int FreeLoopbackPort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io);
  boost::system::error_code ec;
  boost::asio::ip::tcp::endpoint any(boost::asio::ip::address_v4::loopback(), 0);
  acceptor.open(any.protocol(), ec);
  if (!ec) acceptor.bind(any, ec);
  if (ec) return 0;
  return acceptor.local_endpoint(ec).port();
}

bool ParseRawRequest(std::string_view raw, size_t body_limit, HttpRequest* out, HttpResponse* refusal) {
  http::request_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  parser.header_limit(64 * 1024);
  parser.eager(true);
  beast::error_code ec;
  size_t used = 0;
  while (!ec && used < raw.size() && !parser.is_done()) {
    size_t n = parser.put(asio::buffer(raw.data() + used, raw.size() - used), ec);
    if (n == 0 && !ec) break;
    used += n;
  }
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec == http::error::body_limit) {
    *refusal = HttpResponse::Error(413, "body_too_large",
                                   "the request body exceeds " + std::to_string(body_limit) + " bytes");
    return false;
  }
  if (ec || !parser.is_done()) {
    *refusal = HttpResponse::Error(400, "bad_request",
                                   "could not parse the request: " + (ec ? ec.message() : std::string("incomplete")));
    return false;
  }
  return FromParsed(parser.get(), "127.0.0.1", out, refusal);
}

}  // namespace corral
