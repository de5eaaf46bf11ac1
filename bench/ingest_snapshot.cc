// Benchmark: imports the whole PyPI snapshot (886k projects) for the 11
// default platforms into a fresh temporary store, the full-scale load of
// DESIGN.md section 8, and prints `name: value unit` lines.
//
//   ingest_snapshot [SNAPSHOT] [--reimport] [--keep]
//
// SNAPSHOT defaults to /work/shared/data/pypi-projects-2026-11.tsv.xz.
// --reimport runs the import a second time on the same store (it must add
// nothing) and times it; --keep leaves the data directory for inspection.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "coordinator/snapshot_import.h"
#include "coordinator/store.h"

namespace fs = std::filesystem;
using corral::coordinator::IngestSnapshot;
using corral::coordinator::IngestStats;
using corral::coordinator::Store;

namespace {

double PeakRssMiB() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// User and system CPU of the whole process (RocksDB's flush and compaction
// threads included): a figure that holds when other jobs share the cores.
double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

uint64_t DirBytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec))
    if (it->is_regular_file(ec)) total += it->file_size(ec);
  return total;
}

// Table files in the store: right after a bulk load, all of them unmerged
// (level 0), which is what makes writes slow down (20) or stop (36 in one family).
int SstFiles(const fs::path& dir) {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it); it.increment(ec))
    if (it->path().extension() == ".sst") ++n;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path snapshot = "/work/shared/data/pypi-projects-2026-11.tsv.xz";
  bool reimport = false, keep = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--reimport") == 0) reimport = true;
    else if (std::strcmp(argv[i], "--keep") == 0) keep = true;
    else snapshot = argv[i];
  }
  spdlog::set_level(spdlog::level::warn);
  auto platforms = corral::coordinator::DefaultSnapshotPlatforms();
  fs::path dir = fs::temp_directory_path() /
                 ("corral-bench-ingest-" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  int rc = 0;
  {
    Store store;
    std::string err;
    if (!store.Open(dir / "db", &err, /*bulk_load=*/!reimport)) {
      std::fprintf(stderr, "ingest_snapshot: %s\n", err.c_str());
      return 1;
    }
    IngestStats stats;
    auto t0 = std::chrono::steady_clock::now();
    bool ok = IngestSnapshot(store, snapshot, platforms, {}, &stats, &err);
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!ok) {
      std::fprintf(stderr, "ingest_snapshot: %s\n", err.c_str());
      rc = 1;
    } else {
      std::printf("ingest_wall: %.1f s\n", wall);
      std::printf("ingest_cpu: %.1f s\n", CpuSeconds());
      std::printf("ingest_peak_rss: %.0f MiB\n", PeakRssMiB());
      std::printf("projects: %lld\n", static_cast<long long>(stats.projects));
      std::printf("tasks: %lld\n", static_cast<long long>(stats.tasks_created));
      std::printf("tasks_per_second: %.0f\n", static_cast<double>(stats.tasks_created) / wall);
      std::printf("bad_lines: %lld\n", static_cast<long long>(stats.bad_lines));
      std::printf("projects_without_version: %lld\n", static_cast<long long>(stats.without_version));
      std::printf("platforms: %zu\n", platforms.size());
      std::printf("write_batches: %lld\n", static_cast<long long>(stats.batches));
      std::printf("tsv_bytes: %.1f MiB\n", static_cast<double>(stats.text_bytes) / (1 << 20));
      std::printf("db_bytes_after_ingest: %.0f MiB\n", static_cast<double>(DirBytes(dir)) / (1 << 20));
      std::printf("sst_files_after_ingest: %d\n", SstFiles(dir));
      // The merging of freshly loaded files that the import left to the
      // background (Store::SetBulkLoading), timed apart.
      t0 = std::chrono::steady_clock::now();
      store.WaitForCompactions();
      std::printf("compaction_after_ingest: %.1f s\n",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      std::printf("db_bytes_after_compaction: %.0f MiB\n", static_cast<double>(DirBytes(dir)) / (1 << 20));
      std::printf("sst_files_after_compaction: %d\n", SstFiles(dir));
      std::printf("cpu_with_compaction: %.1f s\n", CpuSeconds());
      if (reimport) {
        IngestStats again;
        t0 = std::chrono::steady_clock::now();
        ok = IngestSnapshot(store, snapshot, platforms, {}, &again, &err);
        wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!ok) {
          std::fprintf(stderr, "ingest_snapshot (re-import): %s\n", err.c_str());
          rc = 1;
        } else {
          std::printf("reimport_wall: %.1f s\n", wall);
          std::printf("reimport_tasks_created: %lld\n", static_cast<long long>(again.tasks_created));
          std::printf("reimport_projects_created: %lld\n",
                      static_cast<long long>(again.projects_created));
          std::printf("reimport_peak_rss: %.0f MiB\n", PeakRssMiB());
        }
      }
    }
  }
  if (keep) std::printf("data_dir: %s\n", dir.c_str());
  else fs::remove_all(dir);
  return rc;
}
