// Benchmark: the compatibility lookup ("does X work on linux with Python
// 3.11?", GET /api/v1/compat) over a store holding 1M verdicts, and prints
// `name: value unit` lines.
//
//   lookup [--verdicts N] [--lookups N] [--data DIR] [--keep]
//
// The store is filled with the records the engine writes for decided tasks
// (project, file, task, project_tasks key, verdict, verdict_times key; the
// meta platform set and counters), written in large unsynced batches rather
// than through signed results, which would take hours for 1M verdicts. Each
// release has a task on the 11 default platforms (cp27, cp36-cp313, pp39,
// pp310). Versions per project follow a log-normal law (median 3, mean ~8,
// top 1% above ~60) plus three giants of 1500 releases, like PyPI's long
// tail and its boto3s. With --data DIR an existing store there is reused
// (and a new one left there).
//
// Then a real Coordinator opens the store and answers lookups for random
// projects (uniform) and random Pythons: through Coordinator::Handle (the
// function behind the route: routing, the lookup, the JSON), over HTTP on
// loopback (HttpServer + libcurl), the giants alone, and, for comparison,
// the same answers from the whole project matrix (LoadMatrix), as the
// lookup did before it read only the cells it needs.
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "common/http_server.h"
#include "common/platform.h"
#include "coordinator/compat.h"
#include "coordinator/coordinator.h"
#include "coordinator/matrix.h"
#include "coordinator/records.h"
#include "coordinator/snapshot_import.h"
#include "coordinator/store.h"
#include "coordinator/task_factory.h"
#include "coordinator/views.h"

namespace fs = std::filesystem;
using namespace corral;
using namespace corral::coordinator;
using Clock = std::chrono::steady_clock;

namespace {

struct Generated {
  std::vector<std::string> projects;  // every project
  std::vector<std::string> giants;
  int64_t verdicts = 0, releases = 0;
};

std::string ProjectName(size_t i) { return "proj-" + std::to_string(i); }

// Writes projects until `target` verdicts exist. Deterministic (fixed seed).
bool Generate(const fs::path& db, int64_t target, Generated* g, std::string* err) {
  Store store;
  if (!store.Open(db, err)) return false;
  const std::vector<std::string> platforms = DefaultSnapshotPlatforms();
  std::vector<PlatformTag> tags;
  for (const auto& p : platforms) {
    PlatformTag t;
    ParsePlatformTag(p, &t, err);
    tags.push_back(t);
  }
  std::mt19937_64 rng(20261123);
  std::lognormal_distribution<double> versions_law(1.1, 1.3);
  std::uniform_real_distribution<double> u(0, 1);
  auto w = std::make_unique<WriteSet>();
  int in_batch = 0;
  auto flush = [&]() {
    if (!store.Write(*w, false, err)) return false;
    w = std::make_unique<WriteSet>();
    in_batch = 0;
    return true;
  };
  const int64_t t0 = 1'760'000'000;
  int64_t decided_at = t0;
  size_t index = 0;
  while (g->verdicts < target) {
    std::string name = ProjectName(index);
    int n = index < 3 ? 1500 : std::clamp(static_cast<int>(versions_law(rng)), 1, 1000);
    if (index < 3) g->giants.push_back(name);
    ++index;
    g->projects.push_back(name);
    ProjectRecord p;
    p.name = p.display_name = name;
    p.summary = "generated for the lookup benchmark";
    p.last_serial = static_cast<int64_t>(index);
    // How this project fares: most work on modern CPython; some never did on
    // old Pythons or PyPy; recent releases dropped Python 2.
    bool fails_on_pypy = u(rng) < 0.3, broken_streak = u(rng) < 0.1;
    int py2_dropped_at = static_cast<int>(n * u(rng));
    for (int v = 0; v < n; ++v) {
      std::string version = std::to_string(v / 100) + "." + std::to_string((v / 10) % 10) + "." + std::to_string(v % 10);
      p.versions.push_back(version);
      FileRecord f;
      f.project = name;
      f.version = version;
      f.filename = name + "-" + version + ".tar.gz";
      f.url = "https://files.example/" + f.filename;
      f.sha256 = std::to_string(index) + "-" + version;  // unique; its shape does not matter here
      f.size = 12345;
      f.requires_python = v >= py2_dropped_at ? ">=3.6" : "";
      f.upload_time = "2024-01-01T00:00:00Z";
      f.kind = "sdist";
      w->PutJson(Cf::kFiles, Key({name, version, f.filename}), nlohmann::json(f));
      ++g->releases;
      for (size_t k = 0; k < platforms.size(); ++k) {
        const PlatformTag& tag = tags[k];
        TaskRecord t;
        t.task_id = TaskId(name, version, f.sha256, platforms[k]);
        t.project = name;
        t.version = version;
        t.filename = f.filename;
        t.url = f.url;
        t.sha256 = f.sha256;
        t.size = f.size;
        t.platform = platforms[k];
        t.requires_python = f.requires_python;
        t.created_at = t0;
        t.decided = true;
        VerdictRecord verdict;
        verdict.task_id = t.task_id;
        verdict.decided_at = ++decided_at;
        if (tag.major == 2 && v >= py2_dropped_at) {
          verdict.status = "unsupported";
          verdict.summary = "Requires-Python >=3.6 excludes Python 2.7";
          verdict.evidence = verdict.summary + " (decided by the coordinator without building)";
        } else {
          double r = u(rng);
          bool broken = (tag.implementation == "pp" && fails_on_pypy) || (broken_streak && v > n / 2);
          verdict.status = broken ? (r < 0.5 ? "build_failed" : "tests_failed")
                           : r < 0.85 ? "passed"
                           : r < 0.93 ? "no_tests"
                           : r < 0.97 ? "tests_failed"
                                      : "import_failed";
          verdict.summary = verdict.status == "passed" ? "42 tests passed" : verdict.status;
          verdict.evidence = "2 of 2 results agree";
          verdict.results = verdict.agreeing = 2;
          verdict.agreeing_leases = {"lease-a-" + t.task_id.substr(0, 8), "lease-b-" + t.task_id.substr(0, 8)};
          verdict.credit_each = 30;
          t.results = 2;
          w->Put(Cf::kVerdictTimes, VerdictTimeKey(verdict.decided_at, t.task_id), "");
        }
        w->PutJson(Cf::kTasks, t.task_id, nlohmann::json(t));
        w->Put(Cf::kProjectTasks, Key({name, version, platforms[k], t.task_id}), "");
        w->PutJson(Cf::kVerdicts, t.task_id, nlohmann::json(verdict));
        ++p.tasks;
        ++p.verdicts;
        ++g->verdicts;
        in_batch += 5;
      }
      if (in_batch >= 20000 && !flush()) return false;
    }
    w->PutJson(Cf::kProjects, name, nlohmann::json(p));
  }
  w->PutJson(Cf::kMeta, "platforms", nlohmann::json(platforms));
  w->PutJson(Cf::kMeta, "counters", nlohmann::json{{"projects", g->projects.size()},
                                                   {"tasks", g->verdicts},
                                                   {"verdicts", g->verdicts}});
  w->PutJson(Cf::kMeta, "bench_lookup", nlohmann::json{{"projects", g->projects}, {"giants", g->giants},
                                                       {"verdicts", g->verdicts}, {"releases", g->releases}});
  return store.Write(*w, true, err);
}

bool LoadGenerated(const fs::path& db, Generated* g, std::string* err) {
  Store store;
  if (!store.OpenReadOnly(db, err)) return false;
  nlohmann::json j;
  if (!store.GetJson(Cf::kMeta, "bench_lookup", &j)) {
    *err = db.string() + " holds no lookup benchmark data";
    return false;
  }
  g->projects = j["projects"].get<std::vector<std::string>>();
  g->giants = j["giants"].get<std::vector<std::string>>();
  g->verdicts = j["verdicts"];
  g->releases = j["releases"];
  return true;
}

HttpRequest Get(const std::string& target) {
  HttpRequest r;
  r.method = "GET";
  r.target = target;
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  std::string qs = q == std::string::npos ? "" : target.substr(q + 1);
  size_t pos = 0;
  while (pos < qs.size()) {
    size_t amp = qs.find('&', pos);
    if (amp == std::string::npos) amp = qs.size();
    std::string part = qs.substr(pos, amp - pos);
    size_t eq = part.find('=');
    r.query[part.substr(0, eq)] = eq == std::string::npos ? "" : part.substr(eq + 1);
    pos = amp + 1;
  }
  r.remote_addr = "127.0.0.1";
  r.headers["host"] = "127.0.0.1";
  return r;
}

struct Question {
  std::string project, python, implementation;
  std::string Target() const {
    return "/api/v1/compat?project=" + project + "&os=linux&python=" + python + "&implementation=" + implementation;
  }
};

std::vector<Question> Sample(const std::vector<std::string>& projects, size_t n, uint64_t seed) {
  static const std::vector<std::pair<std::string, std::string>> kPythons = {
      {"2.7", "cpython"},  {"3.6", "cpython"},  {"3.7", "cpython"},  {"3.8", "cpython"},
      {"3.9", "cpython"},  {"3.10", "cpython"}, {"3.11", "cpython"}, {"3.12", "cpython"},
      {"3.13", "cpython"}, {"3.9", "pypy"},     {"3.10", "pypy"}};
  std::mt19937_64 rng(seed);
  std::vector<Question> out;
  for (size_t i = 0; i < n; ++i) {
    const auto& py = kPythons[rng() % kPythons.size()];
    out.push_back({projects[rng() % projects.size()], py.first, py.second});
  }
  return out;
}

struct Stats {
  double p50 = 0, p99 = 0, max = 0, mean = 0;
};

Stats Summarise(std::vector<double> ms) {
  Stats s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))]; };
  s.p50 = at(0.50);
  s.p99 = at(0.99);
  s.max = ms.back();
  for (double x : ms) s.mean += x;
  s.mean /= static_cast<double>(ms.size());
  return s;
}

void Print(const std::string& name, const Stats& s) {
  std::printf("%s_p50: %.3f ms\n%s_p99: %.3f ms\n%s_max: %.3f ms\n", name.c_str(), s.p50, name.c_str(), s.p99,
              name.c_str(), s.max);
  std::fflush(stdout);
}

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t target = 1'000'000;
  size_t lookups = 20000;
  fs::path data;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--verdicts") && i + 1 < argc) target = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--lookups") && i + 1 < argc) lookups = std::strtoull(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
    else if (!std::strcmp(argv[i], "--keep")) keep = true;
    else {
      std::fprintf(stderr, "usage: lookup [--verdicts N] [--lookups N] [--data DIR] [--keep]\n");
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  bool temporary = data.empty();
  if (temporary) data = fs::temp_directory_path() / ("corral-bench-lookup-" + std::to_string(std::random_device{}()));
  fs::path db = data / "db";
  std::string err;
  Generated g;
  if (fs::exists(db / "CURRENT")) {
    if (!LoadGenerated(db, &g, &err)) {
      std::fprintf(stderr, "lookup: %s\n", err.c_str());
      return 2;
    }
    std::printf("store: reused %s\n", data.c_str());
  } else {
    fs::create_directories(db);
    auto t = Clock::now();
    if (!Generate(db, target, &g, &err)) {
      std::fprintf(stderr, "lookup: generating the store: %s\n", err.c_str());
      return 2;
    }
    std::printf("generate_wall: %.1f s\n", Ms(t, Clock::now()) / 1000);
  }
  std::printf("verdicts: %lld\nreleases: %lld\nprojects: %zu\n", static_cast<long long>(g.verdicts),
              static_cast<long long>(g.releases), g.projects.size());

  Options o;
  o.data_dir = data;
  auto coord = std::make_unique<Coordinator>(o);
  auto t_open = Clock::now();
  if (!coord->Open(&err)) {
    std::fprintf(stderr, "lookup: opening the coordinator: %s\n", err.c_str());
    return 2;
  }
  std::printf("coordinator_open: %.1f ms\n", Ms(t_open, Clock::now()));

  std::vector<Question> sample = Sample(g.projects, lookups, 7);
  // Warm-up (block cache, page cache): one pass over a separate sample.
  for (const auto& q : Sample(g.projects, lookups / 4, 11)) coord->Handle(Get(q.Target()));

  std::vector<double> handle_ms;
  int answered = 0;
  std::map<std::string, int> answers;
  for (const auto& q : sample) {
    auto t = Clock::now();
    HttpResponse r = coord->Handle(Get(q.Target()));
    handle_ms.push_back(Ms(t, Clock::now()));
    if (r.status == 200) {
      ++answered;
      ++answers[nlohmann::json::parse(r.body)["answer"].get<std::string>()];
    }
  }
  Print("lookup_handle", Summarise(handle_ms));
  std::printf("lookup_answered: %d of %zu\n", answered, sample.size());
  for (const auto& [a, n] : answers) std::printf("lookup_answer_%s: %d\n", a.c_str(), n);

  std::vector<double> giant_ms;
  for (const auto& q : Sample(g.giants, 500, 13)) {
    auto t = Clock::now();
    coord->Handle(Get(q.Target()));
    giant_ms.push_back(Ms(t, Clock::now()));
  }
  Print("lookup_giant_handle", Summarise(giant_ms));
  {
    // Where a giant's lookup spends its time.
    const Store& st = coord->store();
    std::vector<double> load_ms, answer_ms, json_ms;
    for (const auto& q : Sample(g.giants, 50, 17)) {
      CompatQuestion cq;
      ParseCompatQuestion("linux", q.python, q.implementation, "", &cq, &err);
      Matrix m;
      CompatAnswer a;
      auto t0 = Clock::now();
      LoadCompatMatrix(st, q.project, DefaultSnapshotPlatforms(), cq, &m);
      auto t1 = Clock::now();
      AnswerCompat(m, cq, &a, &err);
      auto t2 = Clock::now();
      CompatJson(m, cq, q.python, a).dump();
      auto t3 = Clock::now();
      load_ms.push_back(Ms(t0, t1));
      answer_ms.push_back(Ms(t1, t2));
      json_ms.push_back(Ms(t2, t3));
    }
    Print("giant_load", Summarise(load_ms));
    Print("giant_answer", Summarise(answer_ms));
    Print("giant_json", Summarise(json_ms));
  }

  // Over HTTP on loopback, one client connection after another.
  HttpServer server([&](const HttpRequest& r) { return coord->Handle(r); });
  if (!server.Start("127.0.0.1", 0, &err)) {
    std::fprintf(stderr, "lookup: %s\n", err.c_str());
    return 2;
  }
  std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  HttpClient http;
  std::vector<double> http_ms;
  size_t http_n = std::min<size_t>(sample.size(), 5000);
  for (size_t i = 0; i < http_n; ++i) {
    auto t = Clock::now();
    HttpResult r = http.Get(base + sample[i].Target());
    http_ms.push_back(Ms(t, Clock::now()));
    if (!r.ok()) {
      std::fprintf(stderr, "lookup: GET %s: %s\n", sample[i].Target().c_str(), r.Describe().c_str());
      return 2;
    }
  }
  Print("lookup_http", Summarise(http_ms));
  server.Stop();

  // The same questions answered from whole matrices, side by side.
  std::vector<double> full_ms;
  const Store& store = coord->store();
  std::vector<std::string> platforms = DefaultSnapshotPlatforms();
  for (size_t i = 0; i < std::min<size_t>(sample.size(), 5000); ++i) {
    const Question& q = sample[i];
    auto t = Clock::now();
    Matrix m;
    CompatQuestion cq;
    CompatAnswer a;
    if (LoadMatrix(store, q.project, platforms, &m) &&
        ParseCompatQuestion("linux", q.python, q.implementation, "", &cq, &err) && AnswerCompat(m, cq, &a, &err))
      CompatJson(m, cq, q.python, a).dump();
    full_ms.push_back(Ms(t, Clock::now()));
  }
  Print("lookup_full_matrix", Summarise(full_ms));

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak_rss: %.0f MiB\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
  coord.reset();
  if (temporary && !keep) {
    std::error_code ec;
    fs::remove_all(data, ec);
  } else {
    std::printf("store kept in %s\n", data.c_str());
  }
  return 0;
}
