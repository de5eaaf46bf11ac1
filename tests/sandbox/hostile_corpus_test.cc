// The hostile corpus (issue 4, item 7): generated sdists that attack the
// volunteer, each run through the real RunJob (bubblewrap, seccomp, cgroups
// where delegated, a real CPython). Each must end with the right outcome,
// leave everything outside its job folder as it was, never get at the
// volunteer's key, and leave the volunteer able to run its next task.
//
// The limits are small here so the whole corpus runs in about a minute.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/crypto.h"
#include "sandbox/cgroup_limits.h"
#include "sandbox/interpreters.h"
#include "sandbox/sandbox.h"
#include "sandbox/venv_template.h"
#include "hostile_packages.h"
#include "test_packages.h"

using namespace corral::sandbox;
using namespace corral::sandbox::testing;
using corral::Outcome;
using corral::OutcomeName;
namespace fs = std::filesystem;

namespace {

fs::path SharedCache() { return fs::path(CORRAL_BINARY).parent_path() / "sandbox-test-cache"; }

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Everything about a tree a write could change: names, kinds, modes,
// sizes, mtimes and contents.
std::string TreeDigest(const fs::path& root) {
  std::string all;
  std::error_code ec;
  std::vector<fs::path> paths;
  for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::recursive_directory_iterator();
       it.increment(ec))
    paths.push_back(it->path());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) continue;
    all += p.string() + " " + std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + " " +
           std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "\n";
    if (S_ISREG(st.st_mode)) all += corral::Sha256Hex(ReadAll(p)) + "\n";
  }
  return corral::Sha256Hex(all);
}

// Processes whose name (comm) is `marker`, anywhere on the machine.
std::vector<int> ProcessesNamed(const std::string& marker) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string pid = e.path().filename().string();
    if (pid.empty() || !std::isdigit(static_cast<unsigned char>(pid[0]))) continue;
    std::string comm = ReadAll(e.path() / "comm");
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    if (comm == marker.substr(0, 15)) out.push_back(std::stoi(pid));
  }
  return out;
}

// A volunteer's data folder laid out as the daemon does (keys/, work/),
// with a machine key the corpus tries to steal, a canary folder beside it,
// a wheelhouse, and a secret in this process's environment.
class Volunteer {
 public:
  Volunteer() {
    corral::InitCrypto();
    token_ = corral::RandomHex(6);
    data_ = tmp_.path() / "volunteer";
    key_ = data_ / "keys" / "machine.key";
    fs::create_directories(key_.parent_path());
    fs::create_directories(data_ / "work");
    key_secret_ = "CORRAL-TEST-KEY-" + corral::RandomHex(16);
    {
      std::ofstream(key_) << key_secret_ << "\n";
    }
    fs::permissions(key_, fs::perms::owner_read | fs::perms::owner_write);
    canary_ = tmp_.path() / "canary";
    fs::create_directories(canary_ / "sub");
    std::ofstream(canary_ / "a.txt") << "canary a\n";
    std::ofstream(canary_ / "sub" / "b.txt") << "canary b\n";
    wheelhouse_ = tmp_.path() / "wheelhouse";
    fs::create_directories(wheelhouse_);
    std::ofstream(wheelhouse_ / "README") << "nothing to install\n";
    env_secret_ = "CORRAL-TEST-ENV-" + corral::RandomHex(16);
    setenv("CORRAL_TEST_SECRET", env_secret_.c_str(), 1);
  }
  ~Volunteer() { unsetenv("CORRAL_TEST_SECRET"); }

  // False (with a warning) when no usable CPython is on this machine.
  bool Ready() {
    for (const char* py : {"/root/.pyenv/versions/3.12.1/bin/python",
                           "/root/.pyenv/versions/3.13.0/bin/python", "/usr/bin/python3"}) {
      std::string err;
      if (fs::exists(py) && ProbeInterpreter(py, &platform_, &err)) {
        TemplateInfo t;
        REQUIRE(EnsureVenvTemplate(platform_, SharedCache(), &t, &err));
        template_ = t.env;
        before_ = Snapshot();
        return true;
      }
    }
    WARN("skipping: no CPython found");
    return false;
  }

  // A marker name for processes of this test (see hostile_packages.h).
  std::string Marker() const { return "cbomb" + token_; }
  const std::string& token() const { return token_; }
  const fs::path& key() const { return key_; }
  const fs::path& canary() const { return canary_; }
  const fs::path& root() const { return tmp_.path(); }
  const std::string& env_secret() const { return env_secret_; }

  // The limits every hostile job gets: small, so the corpus runs fast.
  JobSpec Spec(const std::string& name, const fs::path& sdist) {
    JobSpec spec;
    spec.input = sdist;
    spec.filename = sdist.filename().string();
    spec.project = name;
    spec.version = "1.0";
    spec.platform = platform_;
    spec.work_dir = data_ / "work" / (name + "-" + std::to_string(++jobs_));
    fs::create_directories(spec.work_dir);
    spec.cache_dir = SharedCache();
    spec.wheelhouse = wheelhouse_;
    spec.timeout_s = 60;
    spec.no_output_timeout_s = 30;
    spec.max_log_bytes = 256 << 10;
    spec.max_output_bytes = 4 << 20;
    spec.max_memory_bytes = 256ull << 20;
    spec.max_processes = 64;
    spec.max_address_space = 1ull << 30;
    spec.max_file_bytes = 64ull << 20;
    spec.tmp_bytes = 32ull << 20;
    spec.max_job_bytes = 160ull << 20;
    spec.extract.max_bytes = 64ull << 20;
    spec.extract.ratio_floor_bytes = 8ull << 20;
    return spec;
  }

  // Packs `entries` as `name`-1.0`ext` and runs it with Spec(), adjusted by `tweak`.
  template <typename Tweak>
  JobResult Run(const std::string& name, const std::vector<Entry>& entries, const std::string& ext,
                Tweak tweak) {
    std::string err;
    fs::create_directories(tmp_.path() / "sdists");
    fs::path sdist = tmp_.path() / "sdists" / (name + "-1.0" + ext);
    REQUIRE(WriteArchive(sdist, entries, &err));
    JobSpec spec = Spec(name, sdist);
    tweak(spec);
    JobResult r = RunJob(spec);
    last_work_ = spec.work_dir;
    std::printf("hostile: %-14s %-18s %6.2f s  %s\n", name.c_str(),
                std::string(OutcomeName(r.outcome)).c_str(), r.total_seconds, r.summary.c_str());
    std::fflush(stdout);
    return r;
  }
  JobResult Run(const std::string& name, const std::vector<Entry>& entries,
                const std::string& ext = ".tar.gz") {
    return Run(name, entries, ext, [](JobSpec&) {});
  }

  // What must hold after any hostile job: nothing outside the job folder
  // changed, the key and the environment's secret are nowhere in the
  // result or the job folder, and no process of the job survived.
  void CheckContained(const JobResult& r) {
    INFO(r.summary << "\n" << r.log);
    CHECK(Snapshot() == before_);
    for (const std::string& secret : {key_secret_, env_secret_}) {
      CHECK(r.log.find(secret) == std::string::npos);
      CHECK(r.summary.find(secret) == std::string::npos);
      CHECK(r.excerpt.find(secret) == std::string::npos);
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(last_work_, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
        if (it->file_size(ec) > (64u << 20)) continue;
        if (ReadAll(it->path()).find(secret) != std::string::npos)
          FAIL_CHECK("the secret reached " << it->path());
      }
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!ProcessesNamed(Marker()).empty() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(ProcessesNamed(Marker()).empty());
    for (const auto& e : fs::directory_iterator("/tmp"))
      CHECK(e.path().filename().string().find("pwned") == std::string::npos);
  }

  // The volunteer's next task, an ordinary package, still passes.
  void CheckHealthy() {
    JobResult ok = Run("healthy" + token_, SdistEntries("healthy" + token_, PackageKind::kPassing));
    INFO(ok.summary << "\n" << ok.log);
    CHECK(ok.outcome == Outcome::kPassed);
    CHECK(ok.tests_passed == 3);
  }

 private:
  // The folders outside the job a package could want to change.
  std::string Snapshot() {
    std::string s = TreeDigest(canary_) + TreeDigest(key_.parent_path()) +
                    TreeDigest(wheelhouse_) + TreeDigest(template_);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(tmp_.path(), ec))
      if (e.path().filename() != "sdists") s += e.path().string() + "\n";
    return s;
  }

  TempDir tmp_;
  std::string token_, key_secret_, env_secret_;
  fs::path data_, key_, canary_, wheelhouse_, template_, last_work_;
  corral::Platform platform_;
  std::string before_;
  int jobs_ = 0;
};

// The sdist entries of a package `name` whose tests are `test_source`.
std::vector<Entry> Hostile(const std::string& name, const std::string& test_source) {
  return SdistWithTests(name, test_source);
}

// An sdist `name`-1.0/ with a valid layout and then `bad` entries.
std::vector<Entry> Evil(const std::string& name, std::vector<Entry> bad) {
  std::vector<Entry> e = SdistEntries(name, PackageKind::kNoTests);
  e.insert(e.end(), bad.begin(), bad.end());
  return e;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("hostile: network connections fail inside the sandbox and reach nothing", "[hostile]") {
  Volunteer v;
  if (!v.Ready()) return;
  // A TCP listener on the host's loopback and an abstract unix socket.
  int tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  REQUIRE(tcp >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(tcp, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(tcp, 8) == 0);
  socklen_t len = sizeof a;
  REQUIRE(getsockname(tcp, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  int port = ntohs(a.sin_port);
  std::string abstract = "corral-hostile-" + v.token();
  int unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  REQUIRE(unix_fd >= 0);
  sockaddr_un u{};
  u.sun_family = AF_UNIX;
  std::memcpy(u.sun_path + 1, abstract.data(), abstract.size());
  REQUIRE(bind(unix_fd, reinterpret_cast<sockaddr*>(&u),
               static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract.size())) == 0);
  REQUIRE(listen(unix_fd, 8) == 0);

  JobResult r = v.Run("hostile_net", Hostile("hostile_net", NetworkAttack(port, abstract)));
  INFO(r.summary << "\n" << r.log);
  CHECK(r.outcome == Outcome::kTestsFailed);
  CHECK(r.tests_failed + r.tests_errors == 4);
  CHECK(Contains(r.log, "NET loopback blocked"));
  CHECK(Contains(r.log, "NET abstract blocked"));
  CHECK(Contains(r.log, "NET internet blocked"));
  CHECK(Contains(r.log, "NET dns blocked"));
  CHECK_FALSE(Contains(r.log, "CONNECTED"));
  CHECK_FALSE(Contains(r.log, "RESOLVED"));
  CHECK(accept(tcp, nullptr, nullptr) < 0);
  CHECK(accept(unix_fd, nullptr, nullptr) < 0);
  CHECK(Contains(r.isolation, "bwrap:net,"));
  close(tcp);
  close(unix_fd);
  v.CheckContained(r);
}

TEST_CASE("hostile: the volunteer's key and secrets outside the job stay unread", "[hostile]") {
  Volunteer v;
  if (!v.Ready()) return;
  std::vector<std::string> paths = {v.key().string(),
                                    (v.key().parent_path().parent_path() / "status.json").string(),
                                    "/job/../keys/machine.key",
                                    "/root/.ssh/id_rsa",
                                    "/etc/shadow",
                                    (v.canary() / "a.txt").string()};
  JobResult r = v.Run("hostile_read", Hostile("hostile_read", SecretsAttack(paths, "CORRAL_TEST_SECRET",
                                                                            "machine.key")));
  INFO(r.summary << "\n" << r.log);
  CHECK(r.outcome == Outcome::kTestsFailed);
  CHECK(r.tests_failed + r.tests_errors == 3);
  CHECK(Contains(r.log, "READ " + v.key().string() + " refused"));
  CHECK(Contains(r.log, "READ /etc/shadow refused"));
  CHECK(Contains(r.log, "SEARCH found []"));
  CHECK(Contains(r.log, "secret found in: []"));
  v.CheckContained(r);
}

TEST_CASE("hostile: writes outside the job folder fail and change nothing", "[hostile]") {
  Volunteer v;
  if (!v.Ready()) return;
  std::vector<std::string> paths = {(v.canary() / "a.txt").string(),
                                    (v.canary() / "sub" / "pwned").string(),
                                    (v.key().parent_path() / "machine.key").string(),
                                    "/usr/lib/pwned",
                                    "/etc/passwd",
                                    "/corral/buildenv-template/bin/pwned",
                                    "/wheelhouse/README",
                                    "/job/.corral/runner.py",
                                    "/tmp/../pwned"};
  JobResult r = v.Run("hostile_write", Hostile("hostile_write", WriteOutsideAttack(paths)));
  INFO(r.summary << "\n" << r.log);
  CHECK(r.outcome == Outcome::kTestsFailed);
  CHECK(r.failing_tests.size() == 2);
  CHECK_FALSE(Contains(r.log, (v.canary() / "a.txt").string() + " ok"));
  CHECK_FALSE(Contains(r.log, "WRITE /usr/lib/pwned ok"));
  CHECK_FALSE(Contains(r.log, "WRITE /corral/buildenv-template/bin/pwned ok"));
  CHECK_FALSE(Contains(r.log, "WRITE /wheelhouse/README ok"));
  CHECK_FALSE(Contains(r.log, "WRITE /job/.corral/runner.py ok"));
  CHECK_FALSE(fs::exists("/usr/lib/pwned"));
  CHECK_FALSE(fs::exists("/pwned"));
  v.CheckContained(r);
}

TEST_CASE("hostile: a fork bomb is resource_exhausted and leaves no process behind", "[hostile]") {
  Volunteer v;
  if (!v.Ready()) return;
  if (DetectCgroups().pids.empty() && getuid() == 0) {
    // As root RLIMIT_NPROC does not apply: only a pids cgroup bounds a bomb.
    WARN("skipping: running as root without a pids cgroup (" << DetectCgroups().notes << ")");
    return;
  }
  JobResult r = v.Run("hostile_fork", Hostile("hostile_fork", ForkBomb(v.Marker())), ".tar.gz",
                      [](JobSpec& s) { s.no_output_timeout_s = 8; });
  INFO(r.summary << "\n" << r.log);
  CHECK(r.outcome == Outcome::kResourceExhausted);
  CHECK(Contains(r.summary, "process limit reached"));
  CHECK(Contains(r.excerpt, "fork refused"));
  v.CheckContained(r);
  v.CheckHealthy();
}

TEST_CASE("hostile: a memory bomb is resource_exhausted", "[hostile]") {
  Volunteer v;
  if (!v.Ready()) return;
  JobResult r = v.Run("hostile_mem", Hostile("hostile_mem", MemoryBomb(v.Marker())));
  INFO(r.summary << "\n" << r.log);
  CHECK(r.outcome == Outcome::kResourceExhausted);
  CHECK(Contains(r.summary, "memory limit reached"));
  v.CheckContained(r);
  v.CheckHealthy();
}

TEST_CASE("hostile: filling the tmpfs, the job folder or one huge file is resource_exhausted",
          "[hostile]") {
  Volunteer v;
  if (!v.Ready()) return;
  JobResult tmp = v.Run("hostile_filltmp", Hostile("hostile_filltmp", FillTmp()));
  {
    INFO(tmp.summary << "\n" << tmp.log);
    CHECK(tmp.outcome == Outcome::kResourceExhausted);
    CHECK(Contains(tmp.summary, "No space left on device"));
    CHECK(Contains(tmp.excerpt, "No space left on device"));
    v.CheckContained(tmp);
  }
  JobResult job = v.Run("hostile_filljob", Hostile("hostile_filljob", FillJobFolder(v.Marker())));
  {
    INFO(job.summary << "\n" << job.log);
    CHECK(job.outcome == Outcome::kResourceExhausted);
    CHECK(Contains(job.summary, "the job folder grew past 160 MiB"));
    CHECK(Contains(job.isolation, "disk-cap"));
    v.CheckContained(job);
  }
  JobResult big = v.Run("hostile_bigfile", Hostile("hostile_bigfile", BigFile(100ll << 20)));
  {
    INFO(big.summary << "\n" << big.log);
    CHECK(big.outcome == Outcome::kResourceExhausted);
    CHECK(Contains(big.summary, "file size limit reached"));
    v.CheckContained(big);
  }
  v.CheckHealthy();
}

TEST_CASE("hostile: a silent loop times out on the no-output limit", "[hostile]") {
  Volunteer v;
  if (!v.Ready()) return;
  JobResult r = v.Run("hostile_silent", Hostile("hostile_silent", SilentLoop(v.Marker())),
                      ".tar.gz", [](JobSpec& s) { s.no_output_timeout_s = 6; });
  INFO(r.summary << "\n" << r.log);
  CHECK(r.outcome == Outcome::kTimeout);
  CHECK(r.summary == "no output for 6 s");
  CHECK(Contains(r.excerpt, "test_loop"));  // it was the test, not a quiet build
  v.CheckContained(r);
  v.CheckHealthy();
}

TEST_CASE("hostile: a printing loop hits the output cap, its log stays capped", "[hostile]") {
  Volunteer v;
  if (!v.Ready()) return;
  JobResult r = v.Run("hostile_print", Hostile("hostile_print", PrintLoop(v.Marker())));
  INFO(r.summary);
  CHECK(r.outcome == Outcome::kResourceExhausted);
  CHECK(r.summary == "output exceeded 4 MiB");
  CHECK(r.log.size() < (256u << 10) + 8192);
  CHECK(Contains(r.log, "bytes of output omitted"));
  CHECK(Contains(r.excerpt, "spam"));
  v.CheckContained(r);
  // A slow printer is not caught by the output cap but by the wall clock.
  JobResult slow = v.Run("hostile_slow", Hostile("hostile_slow", R"PY(import time, unittest


class TestSlow(unittest.TestCase):
    def test_loop(self):
        while True:
            print("still working")
            time.sleep(0.5)
)PY"),
                         ".tar.gz", [](JobSpec& s) { s.timeout_s = 12; });
  INFO(slow.summary);
  CHECK(slow.outcome == Outcome::kTimeout);
  CHECK(slow.summary == "wall-clock limit of 12 s reached");
  v.CheckContained(slow);
  v.CheckHealthy();
}

TEST_CASE("hostile: TIOCSTI injection is refused by seccomp even with high bits set", "[hostile]") {
  Volunteer v;
  if (!v.Ready()) return;
  JobResult r = v.Run("hostile_tty", Hostile("hostile_tty", TiocstiAttack()));
  INFO(r.summary << "\n" << r.log);
  CHECK(r.outcome == Outcome::kTestsFailed);
  CHECK(r.failing_tests == std::vector<std::string>{"tests.test_hostile_tty.TestTiocsti.test_inject"});
  CHECK(Contains(r.isolation, ";seccomp=denylist"));
  // The control ioctl works on the pty: the refusals are the filter's.
  CHECK(Contains(r.log, "TIOCGWINSZ pty rc=0 errno=0"));
  for (const char* variant : {"plain", "high", "bit32"})
    for (const char* fd : {"stdin", "pty"})
      CHECK(Contains(r.log, std::string("TIOCSTI ") + variant + " " + fd + " rc=-1 errno=1\n"));
  CHECK_FALSE(Contains(r.log, "TIOCSTI high pty rc=0"));
  v.CheckContained(r);
}

TEST_CASE("hostile: archives that escape are refused before any Python runs", "[hostile]") {
  Volunteer v;
  if (!v.Ready()) return;
  std::string victim = "/tmp/corral-pwned-" + v.token();
  struct Case {
    std::string name, ext;
    std::vector<Entry> bad;
    std::string why;
  };
  std::vector<Case> cases = {
      {"evil_dotdot", ".tar.gz", {{"evil_dotdot-1.0/../../../../pwned.py", "boom"}}, "'..' component"},
      {"evil_dotdot_zip", ".zip", {{"evil_dotdot_zip-1.0/../../pwned.py", "boom"}}, "'..' component"},
      {"evil_abs", ".tar.gz", {{victim, "boom"}}, "absolute path"},
      {"evil_abs_zip", ".zip", {{victim, "boom"}}, "absolute path"},
      {"evil_symlink", ".tar.bz2",
       {{"evil_symlink-1.0/escape", "", v.canary().string()},
        {"evil_symlink-1.0/escape/pwned", "boom"}},
       "symbolic link"},
      {"evil_hardlink", ".tar.gz",
       {HardLink("evil_hardlink-1.0/escape", (v.canary() / "a.txt").string())},
       "hard link"},
      {"evil_hardlink_rel", ".tar.gz",
       {HardLink("evil_hardlink_rel-1.0/escape", "../../../canary/a.txt")},
       "hard link"},
  };
  for (const Case& c : cases) {
    JobResult r = v.Run(c.name, Evil(c.name, c.bad), c.ext);
    INFO(c.name << ": " << r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kBuildFailed);
    CHECK(Contains(r.summary, "refused"));
    CHECK(Contains(r.summary, c.why));
    CHECK(Contains(r.excerpt, "refused"));
    CHECK(r.commands.empty());  // no Python ran
    CHECK_FALSE(fs::exists(victim));
    CHECK_FALSE(fs::exists(v.canary() / "pwned"));
    v.CheckContained(r);
  }
}

TEST_CASE("hostile: decompression bombs are resource_exhausted at extraction", "[hostile]") {
  Volunteer v;
  if (!v.Ready()) return;
  std::string zeros(96u << 20, '\0');
  for (const char* ext : {".tar.gz", ".zip", ".tar.bz2"}) {
    std::string name = std::string("bomb_") + (ext[1] == 'z' ? "zip" : ext[5] == 'g' ? "gz" : "bz2");
    JobResult r = v.Run(name, Evil(name, {{name + "-1.0/zeros.bin", zeros}}), ext);
    INFO(ext << ": " << r.summary << "\n" << r.log);
    CHECK(r.outcome == Outcome::kResourceExhausted);
    CHECK(Contains(r.summary, "decompression bomb"));
    CHECK(r.commands.empty());
    v.CheckContained(r);
  }
  // A plain big archive, not a bomb by ratio, still stops at the byte cap.
  std::string noise;
  noise.reserve(80u << 20);
  uint64_t x = 88172645463325252ull;
  while (noise.size() < (80u << 20)) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    noise.append(reinterpret_cast<const char*>(&x), sizeof x);
  }
  JobResult big = v.Run("big_sdist", Evil("big_sdist", {{"big_sdist-1.0/noise.bin", noise}}));
  INFO(big.summary);
  CHECK(big.outcome == Outcome::kResourceExhausted);
  CHECK(Contains(big.summary, "unpacks to more than 64 MiB"));
  v.CheckContained(big);
  v.CheckHealthy();
}
