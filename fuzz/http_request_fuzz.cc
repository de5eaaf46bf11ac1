// libFuzzer target: the coordinator's request path, from the bytes a client
// sends to the answer. The input is one HTTP/1.1 request, parsed as the
// server parses it (ParseRawRequest), then handled by a real Coordinator on
// a RocksDB store in a temporary folder. A request carrying the header
// `x-fuzz-sign: 1` is first signed with a machine key enrolled at start, so
// the fuzzer reaches past authentication into the bodies of enrolment,
// lease, heartbeat, result, batch, lease-return and artifact requests.
// A crash, a sanitizer report, an escaping exception or a 5xx answer to
// anything but a store failure is a bug.
#include <unistd.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/crypto.h"
#include "common/http_server.h"
#include "common/protocol.h"
#include "common/signing.h"
#include "coordinator/coordinator.h"

namespace {

constexpr int64_t kNow = 1'700'000'000;

struct World {
  World() {
    corral::InitCrypto();
    dir = std::filesystem::temp_directory_path() / ("corral-fuzz-http-" + std::to_string(getpid()));
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    corral::coordinator::Options o;
    o.data_dir = dir;
    o.platforms = {"cp312-linux_x86_64"};
    o.clock = [] { return kNow; };
    o.distinct_prefix = false;
    o.known_answer_rate = 0;
    coord = std::make_unique<corral::coordinator::Coordinator>(o);
    std::string err;
    if (!coord->Open(&err)) std::abort();
    account = corral::SigningKey::Generate();
    machine = corral::SigningKey::Generate();
    corral::EnrolRequest e;
    e.account_key = account->public_hex();
    e.account_name = "fuzz";
    e.machine_key = machine->public_hex();
    e.machine_name = "fuzz-box";
    e.account_signature =
        corral::Base64Encode(account->Sign(corral::EnrolmentMessage(e.machine_key, "fuzz", "fuzz-box")));
    e.platforms = {"cp312-linux_x86_64"};
    corral::HttpRequest r;
    r.method = "POST";
    r.target = r.path = "/api/v1/volunteers";
    r.body = nlohmann::json(e).dump();
    r.remote_addr = "127.0.0.1";
    Sign(&r);
    if (coord->Handle(r).status != 200) std::abort();
  }
  ~World() {
    coord.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  void Sign(corral::HttpRequest* r) {
    for (auto& [k, v] : corral::SignRequest(*machine, r->method, r->target, r->body, kNow)) {
      std::string lower = k;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r->headers[lower] = v;
    }
  }
  std::filesystem::path dir;
  std::unique_ptr<corral::coordinator::Coordinator> coord;
  std::unique_ptr<corral::SigningKey> account, machine;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  corral::HttpRequest r;
  corral::HttpResponse refusal;
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  if (!corral::ParseRawRequest(raw, 1 << 20, &r, &refusal)) {
    if (refusal.status < 400 || refusal.status >= 500) std::abort();
    return 0;
  }
  if (r.Header("x-fuzz-sign") == "1") world.Sign(&r);
  corral::HttpResponse response = world.coord->Handle(r);
  if (response.status >= 500 && response.status != 503 && response.status != 507) {
    std::fprintf(stderr, "%d on %s %s: %s\n", response.status, r.method.c_str(), r.target.c_str(),
                 response.body.c_str());
    std::abort();
  }
  return 0;
}
