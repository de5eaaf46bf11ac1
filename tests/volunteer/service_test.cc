#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/signing.h"
#include "volunteer/config.h"
#include "volunteer/daemon.h"
#include "volunteer/download_cache.h"
#include "volunteer/pause_file.h"
#include "volunteer/politeness.h"
#include "volunteer/sd_notify.h"
#include "volunteer/service_install.h"

using namespace corral;
using namespace corral::volunteer;
namespace fs = std::filesystem;

namespace {

// A fresh folder per test, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("corral-svc-" + RandomHex(6))) { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A datagram socket standing in for systemd's notification socket.
struct NotifySocket {
  int fd = -1;
  explicit NotifySocket(const std::string& name) {
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    if (name[0] == '@') addr.sun_path[0] = '\0';
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    timeval tv{0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setenv("NOTIFY_SOCKET", name.c_str(), 1);
  }
  ~NotifySocket() {
    close(fd);
    unsetenv("NOTIFY_SOCKET");
  }
  // The next message, or "" after 200 ms without one.
  std::string Receive() {
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
};

void SetMtime(const fs::path& p, int seconds_ago) {
  fs::last_write_time(p, fs::file_time_type::clock::now() - std::chrono::seconds(seconds_ago));
}

}  // namespace

TEST_CASE("pause and resume go through data_dir/paused") {
  TempDir dir;
  std::string who;
  CHECK_FALSE(IsPaused(dir.path, &who));
  CHECK(PauseDaemon(dir.path, true) == 0);
  REQUIRE(IsPaused(dir.path, &who));
  CHECK(who.rfind("by ", 0) == 0);
  CHECK(who.find(" at 20") != std::string::npos);  // a UTC timestamp
  CHECK(PauseDaemon(dir.path, true) == 0);        // already paused: fine
  CHECK(PauseDaemon(dir.path, false) == 0);
  CHECK_FALSE(IsPaused(dir.path, &who));
  CHECK_FALSE(fs::exists(dir.path / "paused"));
  CHECK(PauseDaemon(dir.path, false) == 0);
  CHECK(PauseDaemon(dir.path / "missing", true) == 2);
  CHECK_FALSE(fs::exists(dir.path / "missing"));
}

TEST_CASE("the download cache drops the least recently used files beyond its cap") {
  TempDir dir;
  auto make = [&](const std::string& name, size_t size, int age) {
    std::ofstream(dir.path / name) << std::string(size, 'x');
    SetMtime(dir.path / name, age);
  };
  make("aaaa", 1000, 500);       // oldest, but in use
  make("bbbb", 1000, 400);
  make("cccc", 1000, 300);
  make("dddd.part-1234", 1000, 600);  // a download in progress
  make("eeee", 1000, 200);
  make("ffff", 1000, 100);
  TouchCached(dir.path / "bbbb");  // just used: now the newest

  CacheTrim trim;
  std::string err;
  REQUIRE(TrimCache(dir.path, 3500, {"aaaa"}, &trim, &err));
  CHECK(trim.files_removed == 3);
  CHECK(trim.bytes_removed == 3000);
  CHECK(trim.bytes_left == 3000);
  CHECK(fs::exists(dir.path / "aaaa"));
  CHECK(fs::exists(dir.path / "bbbb"));
  CHECK(fs::exists(dir.path / "dddd.part-1234"));
  CHECK_FALSE(fs::exists(dir.path / "cccc"));
  CHECK_FALSE(fs::exists(dir.path / "eeee"));
  CHECK_FALSE(fs::exists(dir.path / "ffff"));

  // No cap, or under it: nothing goes.
  REQUIRE(TrimCache(dir.path, 0, {}, &trim, &err));
  CHECK(trim.files_removed == 0);
  REQUIRE(TrimCache(dir.path, 1 << 20, {}, &trim, &err));
  CHECK(trim.files_removed == 0);
  CHECK(trim.bytes_left == 3000);
  // A cache never written yet is empty, not an error.
  REQUIRE(TrimCache(dir.path / "none", 10, {}, &trim, &err));
}

TEST_CASE("leasing holds back while the load is above max_load or the machine is in use") {
  std::string why;
  CHECK(LeaseAllowed(5.0, 0, 0, false, &why));
  CHECK_FALSE(LeaseAllowed(2.5, 0, 2.0, false, &why));
  CHECK(why.find("above max_load 2.00") != std::string::npos);
  CHECK(LeaseAllowed(1.5, 0, 2.0, false, &why));
  CHECK_FALSE(LeaseAllowed(0.9, 0, 0, true, &why));
  CHECK(why.find("idle_only") != std::string::npos);
  CHECK(LeaseAllowed(2.2, 2, 0, true, &why));  // our own two tasks make that load
  double load = -1;
  std::string err;
  REQUIRE(ReadLoadAverage(&load, &err));
  CHECK(load >= 0);
}

TEST_CASE("sd_notify messages reach the socket named by NOTIFY_SOCKET") {
  TempDir dir;
  std::string err;
  unsetenv("NOTIFY_SOCKET");
  CHECK_FALSE(SdNotify("READY=1", &err));
  CHECK(err.empty());  // not under systemd: quietly nothing
  {
    NotifySocket sock((dir.path / "notify").string());
    REQUIRE(SdNotify("READY=1\nSTATUS=hello", &err));
    CHECK(sock.Receive() == "READY=1\nSTATUS=hello");

    setenv("WATCHDOG_USEC", "2000000", 1);
    unsetenv("WATCHDOG_PID");
    CHECK(WatchdogPingInterval() == std::chrono::seconds(1));
    WatchdogPinger pinger;
    pinger.MaybePing();
    pinger.MaybePing();  // too soon for a second one
    CHECK(sock.Receive() == "WATCHDOG=1");
    CHECK(sock.Receive() == "");
    setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
    CHECK(WatchdogPingInterval().count() == 0);  // meant for another process
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
  }
  {
    std::string abstract = "@corral-test-" + RandomHex(6);
    NotifySocket sock(abstract);
    REQUIRE(SdNotify("STOPPING=1", &err));
    CHECK(sock.Receive() == "STOPPING=1");
  }
}

TEST_CASE("the daemon tells systemd it is ready, pings the watchdog and says when it stops") {
  InitCrypto();
  TempDir dir;
  std::string err;
  auto account = SigningKey::Generate();
  fs::path key_file = dir.path / "alice.key";
  REQUIRE(account->Save(key_file, &err));
  NotifySocket sock((dir.path / "notify").string());
  setenv("WATCHDOG_USEC", "400000", 1);
  unsetenv("WATCHDOG_PID");

  DaemonOptions o;
  o.coordinator_url = "http://127.0.0.1:9";  // nothing listens: the daemon keeps retrying enrolment
  o.data_dir = dir.path / "data";
  o.account_key = key_file;
  o.nice = std::max(getpriority(PRIO_PROCESS, 0), 1);
  o.ionice = "none";
  std::atomic<bool> stop{false};
  std::atomic<bool> reload{false};
  int rc = -1;
  std::thread daemon([&] { rc = RunDaemon(o, DaemonControl{&stop, &reload}); });

  std::vector<std::string> got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool ready = false;
  int pings = 0;
  while (std::chrono::steady_clock::now() < deadline && pings < 2) {
    std::string m = sock.Receive();
    if (m.empty()) continue;
    got.push_back(m);
    ready = ready || m.rfind("READY=1", 0) == 0;
    if (ready && m == "WATCHDOG=1") ++pings;
  }
  stop = true;
  daemon.join();
  std::string stopping;
  for (int i = 0; i < 10 && stopping.empty(); ++i) {
    std::string m = sock.Receive();
    if (m == "STOPPING=1") stopping = m;
  }
  unsetenv("WATCHDOG_USEC");
  INFO("messages: " << got.size());
  CHECK(ready);
  CHECK(pings == 2);
  CHECK(stopping == "STOPPING=1");
  CHECK(rc == 0);
  CHECK(getpriority(PRIO_PROCESS, 0) == o.nice);  // the daemon lowered this thread's priority too
  CHECK(fs::exists(o.data_dir / "keys" / "machine.key"));
}

TEST_CASE("install-service writes a hardened unit, a configuration and the key under --root") {
  InitCrypto();
  TempDir dir;
  fs::path key = dir.path / "alice.key";
  std::ofstream(key) << "secret";
  ServiceOptions o;
  o.root = dir.path / "root";
  o.binary = "/usr/local/bin/corral";
  o.coordinator_url = "http://coord.example:8080";
  o.account_key = key;
  o.create_user = false;
  REQUIRE(InstallService(o) == 0);

  std::string unit = Slurp(o.root / "etc/systemd/system/corral-volunteer.service");
  for (const char* line :
       {"Type=notify", "WatchdogSec=", "User=corral", "StateDirectory=corral-volunteer", "NoNewPrivileges=yes",
        "ProtectSystem=strict", "ReadWritePaths=/var/lib/corral-volunteer", "ProtectHome=read-only",
        "PrivateTmp=yes", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "Nice=10", "IOSchedulingClass=idle",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ExecStart=/usr/local/bin/corral volunteer --config /etc/corral/volunteer.toml --data "
        "/var/lib/corral-volunteer"}) {
    INFO(line);
    CHECK(unit.find(std::string("\n") + line) != std::string::npos);
  }
  // Settings that would break bubblewrap inside the service stay out.
  CHECK(unit.find("\nRestrictNamespaces") == std::string::npos);
  CHECK(unit.find("\nProtectKernelTunables") == std::string::npos);
  CHECK(unit.find("\nPrivateUsers") == std::string::npos);

  CHECK(Slurp(o.root / "etc/corral/alice.key") == "secret");
  CHECK((fs::status(o.root / "etc/corral/alice.key").permissions() & fs::perms::others_read) == fs::perms::none);
  // The configuration written is one the daemon accepts (paths inside the root).
  DaemonOptions d;
  std::string err;
  fs::path config = o.root / "etc/corral/volunteer.toml";
  REQUIRE(LoadConfig(config, &d, &err));
  CHECK(d.coordinator_url == "http://coord.example:8080");
  CHECK(d.account_key == "/etc/corral/alice.key");

  // Installing again keeps an edited configuration.
  std::ofstream(config) << "coordinator = \"http://other:1\"\nslots = 3\n";
  REQUIRE(InstallService(o) == 0);
  REQUIRE(LoadConfig(config, &d, &err));
  CHECK(d.slots == 3);
  CHECK(d.coordinator_url == "http://other:1");
}

TEST_CASE("packaging/corral-volunteer.service is the unit install-service writes") {
  ServiceOptions o;
  o.binary = "/usr/local/bin/corral";
  CHECK(Slurp(fs::path(CORRAL_SOURCE_DIR) / "packaging" / "corral-volunteer.service") == ServiceUnitText(o));
}
