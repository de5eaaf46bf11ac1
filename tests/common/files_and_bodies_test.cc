// ReadFile on the kinds of files it meets (regular files of any size, empty
// ones, /proc files whose size is unknown), response bodies shared with a
// cache going over the wire whole, and requests answered on the I/O threads
// past a busy handler pool.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <thread>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/http_client.h"
#include "common/http_server.h"

using namespace corral;
namespace fs = std::filesystem;

TEST_CASE("ReadFile reads regular files whole, empty ones, and files of unknown size") {
  fs::path dir = fs::temp_directory_path() / ("corral-readfile-" + RandomHex(4));
  fs::create_directories(dir);
  std::string err, got;
  for (size_t size : {size_t{0}, size_t{1}, size_t{4095}, size_t{65536}, size_t{65537}, size_t{3} << 20}) {
    std::string data(size, '\0');
    for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>(i * 7 + i / 251);
    fs::path p = dir / ("f" + std::to_string(size));
    REQUIRE(WriteFileAtomic(p, data, &err));
    got = "left over";
    REQUIRE(ReadFile(p, &got, &err));
    CHECK(got.size() == size);
    CHECK(got == data);
  }
  // /proc files say they are empty; their content is read to the end all the same.
  REQUIRE(ReadFile("/proc/self/status", &got, &err));
  CHECK(got.find("Pid:\t" + std::to_string(getpid())) != std::string::npos);
  // A missing file: false, and the error names it.
  CHECK_FALSE(ReadFile(dir / "missing", &got, &err));
  CHECK(err.find("missing") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("a shared body goes over the wire whole, as often as it is asked for") {
  std::string big(300 * 1024, 'x');
  for (size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  auto shared = std::make_shared<const std::string>(big);
  HttpServer server([&](const HttpRequest& r) {
    HttpResponse res;
    if (r.path == "/shared") {
      res.content_type = "application/octet-stream";
      res.shared_body = shared;
    } else if (r.path == "/empty") {
      res.shared_body = std::make_shared<const std::string>();
    } else {
      res.body = "plain " + r.path;
    }
    return res;
  });
  std::string err;
  REQUIRE(server.Start("127.0.0.1", 0, &err));
  std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  HttpClient client;
  for (int i = 0; i < 3; ++i) {  // the same connection, kept alive
    HttpResult r = client.Get(base + "/shared");
    REQUIRE(r.ok());
    CHECK(r.body == big);
  }
  HttpResult plain = client.Get(base + "/other");
  REQUIRE(plain.ok());
  CHECK(plain.body == "plain /other");
  HttpResult empty = client.Get(base + "/empty");
  REQUIRE(empty.ok());
  CHECK(empty.body.empty());
  server.Stop();
}

TEST_CASE("requests marked answer_inline are answered while the handler pool is busy") {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> slow_started{false}, slow_finished{false};
  HttpServerOptions options;
  options.threads = 1;  // one handler thread, held by /slow
  options.answer_inline = [](const HttpRequest& r) { return r.path == "/prompt"; };
  HttpServer server([&](const HttpRequest& r) {
    HttpResponse res;
    if (r.path == "/slow") {
      slow_started = true;
      released.wait_for(std::chrono::seconds(10));
      slow_finished = true;
    }
    res.body = r.method + " " + r.path;
    return res;
  }, options);
  std::string err;
  REQUIRE(server.Start("127.0.0.1", 0, &err));
  std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  auto slow = std::async(std::launch::async, [&] { return HttpClient().Post(base + "/slow", "x"); });
  while (!slow_started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // The pool's one thread is held: /prompt is answered all the same, on an
  // I/O thread, and a GET as always.
  HttpResult prompt = HttpClient().Post(base + "/prompt", "y");
  REQUIRE(prompt.ok());
  CHECK(prompt.body == "POST /prompt");
  CHECK_FALSE(slow_finished);
  HttpResult get = HttpClient().Get(base + "/page");
  REQUIRE(get.ok());
  CHECK_FALSE(slow_finished);
  // Any other POST waits for the pool.
  auto queued = std::async(std::launch::async, [&] { return HttpClient().Post(base + "/queued", "z"); });
  CHECK(queued.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
  release.set_value();
  HttpResult s = slow.get(), q = queued.get();
  REQUIRE(s.ok());
  CHECK(s.body == "POST /slow");
  REQUIRE(q.ok());
  CHECK(q.body == "POST /queued");
  server.Stop();
}
