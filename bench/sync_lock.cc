// Benchmark: what the index sync of one big project costs the coordinator's
// other work, and prints `name: value unit` lines.
//
//   sync_lock [--releases N] [--platforms P]
//
// A project of N releases (default 4,000, like PyPI's boto3s), each with an
// sdist and a wheel, is ingested by a real Engine on a fresh RocksDB store
// three times, as the sync does: first seen, then synced again unchanged
// (its serial moved), then with one new release. Meanwhile a second thread
// asks for the engine's counters every 0.2 ms, which takes the lock every
// lease and result takes, and records its longest wait: what a lease would
// wait behind the sync. P platforms (default 11) get the newest release's
// tasks (`latest_only`, as `corral serve --releases latest`).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto.h"
#include "coordinator/engine.h"
#include "coordinator/index_sync.h"

namespace fs = std::filesystem;
using corral::coordinator::Engine;
using corral::coordinator::EngineOptions;
using corral::coordinator::IndexFile;
using corral::coordinator::IngestReport;
using Clock = std::chrono::steady_clock;

namespace {

const std::vector<std::string> kPlatforms = {
    "cp311-linux_x86_64",      "cp312-linux_x86_64",      "cp310-linux_x86_64", "cp39-linux_x86_64",
    "cp38-linux_x86_64",       "cp313-linux_x86_64",      "cp311-macosx_11_0_arm64",
    "cp312-macosx_11_0_arm64", "cp311-win_amd64",         "cp312-win_amd64",    "pp310-linux_x86_64"};

// The sdist and the wheel of release 1.<i>.
void AddRelease(std::vector<IndexFile>* files, int i) {
  const std::string v = "1." + std::to_string(i);
  for (int wheel = 0; wheel < 2; ++wheel) {
    IndexFile f;
    f.version = v;
    f.kind = wheel ? "wheel" : "sdist";
    f.filename = wheel ? "big-" + v + "-py3-none-any.whl" : "big-" + v + ".tar.gz";
    f.url = "https://files.example/" + f.filename;
    char sha[65];
    std::snprintf(sha, sizeof sha, "%056x%08x", i, wheel);
    f.sha256 = sha;
    f.size = 100000;
    f.upload_time = "2024-01-01T00:00:00Z";
    files->push_back(std::move(f));
  }
}

}  // namespace

int main(int argc, char** argv) {
  int releases = 4000;
  size_t platforms = kPlatforms.size();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--releases" && i + 1 < argc) {
      releases = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--platforms" && i + 1 < argc) {
      platforms = std::clamp<size_t>(static_cast<size_t>(std::atoi(argv[++i])), 1, kPlatforms.size());
    } else {
      std::fprintf(stderr, "usage: sync_lock [--releases N] [--platforms P]\n");
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  fs::path dir = fs::temp_directory_path() / ("corral-bench-sync-lock-" + corral::RandomHex(6));
  EngineOptions o;
  o.db_dir = dir;
  o.platforms.assign(kPlatforms.begin(), kPlatforms.begin() + static_cast<std::ptrdiff_t>(platforms));
  o.latest_only = true;
  std::string err;
  int status = 0;
  {
    Engine engine(o);
    if (!engine.Open(&err)) {
      std::fprintf(stderr, "sync_lock: %s\n", err.c_str());
      return 1;
    }
    std::vector<IndexFile> files;
    for (int i = 0; i < releases; ++i) AddRelease(&files, i);
    std::printf("files: %zu\nplatforms: %zu\n", files.size(), platforms);
    const char* passes[] = {"first", "unchanged", "new_release"};
    for (int pass = 0; pass < 3; ++pass) {
      if (pass == 2) AddRelease(&files, releases);
      std::atomic<bool> done{false};
      double longest_ms = 0;
      std::thread prober([&] {
        while (!done) {
          auto t = Clock::now();
          engine.GetCounters();
          longest_ms = std::max(longest_ms, std::chrono::duration<double, std::milli>(Clock::now() - t).count());
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      IngestReport rep;
      auto t0 = Clock::now();
      bool ok = engine.IngestProject("big", 10 + pass, "", files, 1'700'000'000, &rep, &err);
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      done = true;
      prober.join();
      if (!ok) {
        std::fprintf(stderr, "sync_lock: %s\n", err.c_str());
        status = 1;
        break;
      }
      std::printf("%s_ingest: %.1f ms (%d new tasks)\n", passes[pass], ms, rep.tasks_created);
      std::printf("%s_longest_lock_wait: %.1f ms\n", passes[pass], longest_ms);
    }
  }
  fs::remove_all(dir);
  return status;
}
