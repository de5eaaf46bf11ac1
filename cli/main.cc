// The one `corral` binary: git-style subcommands (DESIGN.md section 4a).
// Exit codes: 0 success, 1 the thing asked about failed (lookup: "no"),
// 2 usage or configuration error.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "common/text.h"
#include "common/crypto.h"
#include "common/protocol.h"
#include "common/fs_util.h"
#include "common/http_client.h"
#include "common/http_server.h"
#include "common/names.h"
#include "coordinator/coordinator.h"
#include "demo/corpus.h"
#include "demo/demo_network.h"
#include "demo/local_index.h"
#include "coordinator/snapshot_import.h"
#include "coordinator/static_export.h"
#include "coordinator/stats_export.h"
#include "volunteer/config.h"
#include "volunteer/daemon.h"
#include "volunteer/pause_file.h"
#include "volunteer/service_install.h"
#include "volunteer/status_report.h"
#include "volunteer/reproduce.h"

namespace fs = std::filesystem;
using namespace corral;

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

void OnSignal(int) { g_stop.store(true); }
void OnHangup(int) { g_reload.store(true); }

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction hup {};
  hup.sa_handler = OnHangup;
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

void WaitForStop() {
  while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

fs::path HomeDir() {
  const char* home = std::getenv("HOME");
  return home && *home ? fs::path(home) : fs::path("/tmp");
}

fs::path DefaultDataDir(const std::string& what) {
  const char* xdg = std::getenv("XDG_DATA_HOME");
  fs::path base = xdg && *xdg ? fs::path(xdg) : HomeDir() / ".local" / "share";
  return base / "corral" / what;
}

// "127.0.0.1:8787" -> host, port. False with *err on a malformed address.
bool SplitHostPort(const std::string& s, std::string* host, int* port, std::string* err) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    *err = "--listen needs HOST:PORT, for example 127.0.0.1:8787, got '" + s + "'";
    return false;
  }
  *host = s.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  try {
    *port = std::stoi(s.substr(colon + 1));
  } catch (...) {
    *port = -1;
  }
  if (*port < 0 || *port > 65535) {
    *err = "--listen port must be 0..65535, got '" + s.substr(colon + 1) + "'";
    return false;
  }
  return true;
}

fs::path SelfPath(const char* argv0) {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::absolute(argv0) : p;
}

}  // namespace

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("corral");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  InitCrypto();

  CLI::App app{"Corral: builds and tests PyPI packages on volunteers' machines and publishes what was verified"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();

  // corral demo
  auto* demo_cmd = app.add_subcommand("demo", "run the whole network locally: index, coordinator, two volunteers, site");
  demo::DemoOptions demo_opts;
  demo_opts.data_dir = fs::path(".corral") / "demo";
  demo_cmd->add_option("--port", demo_opts.port, "port of the site on 127.0.0.1 (0: any free port)")->capture_default_str();
  demo_cmd->add_option("--data", demo_opts.data_dir, "folder for everything the demo writes")->capture_default_str();
  demo_cmd->add_option("--interpreter", demo_opts.interpreters, "use only these interpreters (path or tag such as cp311-linux_x86_64); repeatable");
  demo_cmd->add_option("--slots", demo_opts.slots, "tasks each volunteer runs at once")->capture_default_str();
  demo_cmd->add_flag("--exit-when-done", demo_opts.exit_when_done, "stop once every task has a verdict");

  // corral serve
  auto* serve_cmd = app.add_subcommand("serve", "run the coordinator and its site");
  coordinator::Options serve_opts;
  std::string listen = "127.0.0.1:" + std::to_string(kDefaultPort);
  serve_opts.data_dir = DefaultDataDir("coordinator");
  serve_cmd->add_option("--data", serve_opts.data_dir, "data folder (RocksDB, artifacts)")->capture_default_str();
  serve_cmd->add_option("--listen", listen, "HOST:PORT to serve on")->capture_default_str();
  serve_cmd->add_option("--index", serve_opts.index_url, "PEP 691/503 simple index to follow, e.g. http://127.0.0.1:8081/simple/");
  serve_cmd->add_option("--platforms", serve_opts.platforms, "the only platform tags to create tasks for (default: those volunteers of --platform-accounts accounts offer)");
  serve_cmd->add_option("--platform-accounts", serve_opts.platform_min_accounts,
                        "a tag volunteers offer becomes a platform once machines of this many accounts offer it")
      ->capture_default_str();
  serve_cmd->add_option("--sync-interval", serve_opts.sync_interval_s, "seconds between index syncs")->capture_default_str();
  serve_cmd->add_option("--lease-seconds", serve_opts.lease_seconds, "lease length before re-issue")->capture_default_str();
  serve_cmd->add_option("--public-url", serve_opts.public_url, "the URL people reach this coordinator at");
  serve_cmd->add_option("--artifact-quota-mb", serve_opts.artifact_mb_per_day,
                        "MiB of new artifacts (logs, wheels) each volunteer may store per UTC day")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option("--cache-mb", serve_opts.cache_mb,
                        "MiB of memory for caches, the bound of the coordinator's memory beyond its working state: "
                        "3/4 for the database (its blocks and write buffers), 1/4 for artifacts read last")
      ->capture_default_str()
      ->check(CLI::Range(size_t{16}, size_t{1} << 20));
  HttpServerOptions serve_http;
  serve_http.threads = 16;  // handlers wait for the disk in group commits: more than the cores
  serve_http.answer_inline = coordinator::Coordinator::NeverWaitsForDisk;
  serve_http.route_body_limit = coordinator::Coordinator::BodyLimitFor;
  serve_cmd->add_option("--http-threads", serve_http.threads,
                        "HTTP handler threads (results wait for a shared fsync, so more than the cores)")
      ->capture_default_str();
  serve_cmd->add_flag_callback("--one-network", [&] { serve_opts.distinct_prefix = false; },
                               "volunteers share one network (one machine, a lab behind one NAT): let results "
                               "from one /24 or /48 agree (by default agreeing results must come from distinct networks)");
  serve_opts.require_standing = true;
  const auto account_key_check = [](const std::string& k) {
    return IsLowerHex(k, 64) ? std::string() : "an account's public key is 64 lower-case hex digits, not '" + k + "'";
  };
  serve_cmd->add_option("--trusted-account", serve_opts.trusted_accounts,
                        "an account (public key, 64 hex, as `corral account create` prints) whose machines the "
                        "operator trusts: verdicts and published wheels bootstrap from them; repeatable")
      ->check(account_key_check);
  serve_cmd->add_option("--clear-account", serve_opts.cleared_accounts,
                        "an account (public key, 64 hex) flagged because one of its machines was caught lying, "
                        "whose other machines may work again (the caught machine stays suspended); repeatable")
      ->check(account_key_check);
  serve_cmd->add_flag_callback("--no-standing", [&] { serve_opts.require_standing = false; },
                               "let verdicts and wheels come from any agreeing accounts, newcomers included "
                               "(by default an established or trusted volunteer must be among them)");
  serve_cmd->add_option("--min-isolation", serve_opts.min_isolation,
                        "isolation every volunteer must report to get work, as features of its isolation level, "
                        "e.g. \"bwrap:net;seccomp=denylist\" (default: any)");

  // corral volunteer [status]
  auto* vol_cmd = app.add_subcommand("volunteer", "run the volunteer daemon");
  volunteer::DaemonOptions vol_opts;
  vol_opts.data_dir = DefaultDataDir("volunteer");
  vol_cmd->add_option("--coordinator", vol_opts.coordinator_url, "the coordinator's URL, e.g. " + std::string(kDefaultCoordinator));
  vol_cmd->add_option("--data", vol_opts.data_dir, "data folder (keys, cache, journal)")->capture_default_str();
  vol_cmd->add_option("--account", vol_opts.account_key, "account key file from `corral account create`");
  vol_cmd->add_option("--name", vol_opts.machine_name, "this machine's name on the leaderboard");
  vol_cmd->add_option("--slots", vol_opts.slots, "tasks run at once")->capture_default_str()->check(CLI::Range(1, 64));
  vol_cmd->add_option("--interpreter", vol_opts.interpreters, "use only these interpreters (path or tag); repeatable");
  vol_cmd->add_option("--max-tasks", vol_opts.max_tasks, "stop after this many tasks (0: never)");
  vol_cmd->add_flag("--exit-when-idle", vol_opts.exit_when_idle, "stop when the coordinator has no work");
  fs::path vol_config;
  vol_cmd->fallthrough();
  vol_cmd->add_option("--config", vol_config, "configuration file (see packaging/volunteer.toml); flags override it");
  vol_cmd->add_option("--skip-interpreter", vol_opts.skip_interpreters, "never use these (path or tag); repeatable");
  vol_cmd->add_option("--cache-size-mb", vol_opts.cache_size_mb, "download cache cap (inputs and fetched requirements), MB (0: none)")->capture_default_str();
  vol_cmd->add_option("--source-address", vol_opts.source_address,
                      "local IP address every connection goes out from (multi-homed hosts); default: the system's choice");
  vol_cmd->add_option("--index-host", vol_opts.extra_index_hosts, "a host (host[:port]) besides the index's and the task file's that the prepare phase may fetch files from; repeatable");
  vol_cmd->add_option("--nice", vol_opts.nice, "CPU niceness of the daemon and its sandboxes")->check(CLI::Range(0, 19))->capture_default_str();
  vol_cmd->add_option("--ionice", vol_opts.ionice, "I/O class: idle, best-effort or none")->check(CLI::IsMember({"idle", "best-effort", "none"}));
  vol_cmd->add_option("--max-load", vol_opts.max_load, "lease nothing while the 1-minute load exceeds this");
  vol_cmd->add_flag("--idle-only", vol_opts.idle_only, "lease only while the machine is otherwise idle");
  auto* vol_status = vol_cmd->add_subcommand("status", "show what the daemon is doing");
  auto* vol_pause = vol_cmd->add_subcommand("pause", "lease no new work; running tasks finish");
  auto* vol_resume = vol_cmd->add_subcommand("resume", "lease work again");
  auto* vol_install = vol_cmd->add_subcommand("install-service", "install the systemd unit and a dedicated user");
  volunteer::ServiceOptions svc;
  bool no_user = false;
  vol_install->add_option("--root", svc.root, "install under this prefix instead of /");
  vol_install->add_option("--binary", svc.binary, "the corral binary the unit runs");
  vol_install->add_option("--user", svc.user, "the dedicated user");
  vol_install->add_flag("--no-user", no_user, "do not create the user");

  // corral ingest-snapshot FILE --data DIR
  auto* ingest_cmd = app.add_subcommand("ingest-snapshot", "import a PyPI snapshot (TSV, optionally .xz) into a coordinator's store");
  fs::path ingest_file, ingest_data = DefaultDataDir("coordinator");
  std::vector<std::string> ingest_platforms;
  ingest_cmd->add_option("FILE", ingest_file, "the snapshot, e.g. pypi-projects-2026-11.tsv.xz")->required();
  ingest_cmd->add_option("--data", ingest_data, "the coordinator's data folder")->capture_default_str();
  ingest_cmd->add_option("--platforms", ingest_platforms, "platform tags (default: 11 CPython and PyPy tags)");

  // corral export-stats DIR --data DATA
  auto* stats_cmd = app.add_subcommand("export-stats", "write BOINC-style statistics (tables.xml, user.gz, team.gz, host.gz) for stats sites");
  fs::path stats_dir, stats_data = DefaultDataDir("coordinator");
  stats_cmd->add_option("DIR", stats_dir, "folder to write the files into (created when missing)")->required();
  stats_cmd->add_option("--data", stats_data, "the coordinator's data folder (read only; the coordinator may be running)")->capture_default_str();

  // corral account create NAME
  auto* account_cmd = app.add_subcommand("account", "manage account keys");
  account_cmd->require_subcommand(1);
  auto* account_create = account_cmd->add_subcommand("create", "create an account key under which machines enrol");
  std::string account_name;
  fs::path account_dir = HomeDir() / ".config" / "corral" / "accounts";
  account_create->add_option("NAME", account_name, "the account's name")->required();
  account_create->add_option("--dir", account_dir, "folder for the key file")->capture_default_str();

  // corral index DIR
  auto* index_cmd = app.add_subcommand("index", "serve a folder of sdists and wheels as a PEP 691/503 index; "
                                                "files added to or removed from the folder are published within a "
                                                "second (SIGHUP rescans too)");
  fs::path index_dir;
  std::string index_listen = "127.0.0.1:8081";
  bool index_demo = false;
  index_cmd->add_option("DIR", index_dir, "folder of distribution files")->required();
  index_cmd->add_option("--listen", index_listen, "HOST:PORT to serve on")->capture_default_str();
  index_cmd->add_flag("--demo", index_demo, "first write the demo corpus and the machine's build-tool wheels into DIR");

  // corral lookup PROJECT --os OS --python X.Y
  auto* lookup_cmd = app.add_subcommand("lookup", "does PROJECT work on OS with Python X.Y? answered in words");
  std::string lookup_project, lookup_os = "linux", lookup_python, lookup_version;
  std::string lookup_coordinator = kDefaultCoordinator;
  lookup_cmd->add_option("PROJECT", lookup_project)->required();
  lookup_cmd->add_option("--os", lookup_os, "linux, windows or macos")->capture_default_str();
  lookup_cmd->add_option("--python", lookup_python, "Python version as X.Y, e.g. 3.11")->required();
  lookup_cmd->add_option("--version", lookup_version, "a release of PROJECT (default: the newest)");
  lookup_cmd->add_option("--coordinator", lookup_coordinator, "the coordinator's URL")->capture_default_str();

  // corral reproduce TASK_ID --coordinator URL
  auto* repro_cmd = app.add_subcommand("reproduce", "rerun one task locally in the same sandbox and show every step");
  volunteer::ReproduceOptions repro_opts;
  repro_opts.coordinator_url = kDefaultCoordinator;
  repro_opts.data_dir = DefaultDataDir("reproduce");
  repro_cmd->add_option("TASK_ID", repro_opts.task_id, "the task's id (on its page and in the API)")->required();
  repro_cmd->add_option("--coordinator", repro_opts.coordinator_url, "the coordinator's URL")->capture_default_str();
  repro_cmd->add_option("--data", repro_opts.data_dir, "cache and work folder")->capture_default_str();
  repro_cmd->add_option("--interpreter", repro_opts.interpreter, "use this Python instead of the one found for the task's platform");
  repro_cmd->add_option("--index", repro_opts.index_url, "fetch build, runtime and test requirements from this simple index instead of the one the coordinator names");

  // corral export-static DIR --data DIR
  auto* export_cmd = app.add_subcommand("export-static", "write the site, its JSON and the wheel index (/simple/) as static files for nginx or a CDN");
  coordinator::StaticExportOptions export_opts;
  export_opts.data_dir = DefaultDataDir("coordinator");
  export_cmd->add_option("DIR", export_opts.out_dir, "folder to write; replaced once the export is complete")->required();
  export_cmd->add_option("--data", export_opts.data_dir, "the coordinator's data folder (it may be serving meanwhile)")->capture_default_str();
  export_cmd->add_option("--public-url", export_opts.public_url, "the URL the export will be served at (feed links, reproduce commands)")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  InstallSignalHandlers();

  if (*demo_cmd) {
    demo_opts.self = SelfPath(argv[0]);
    demo_opts.data_dir = fs::absolute(demo_opts.data_dir);
    int rc = demo::RunDemo(demo_opts, &g_stop);
    spdlog::default_logger()->flush();
    std::fflush(stdout);
    std::_Exit(rc);
  }

  if (*serve_cmd) {
    std::string host, err;
    int port = 0;
    if (!SplitHostPort(listen, &host, &port, &err)) {
      spdlog::error("{}", err);
      return 2;
    }
    std::atomic<coordinator::Coordinator*> serving{nullptr};
    // A signed request whose headers already fail is answered before its
    // body is read.
    serve_http.check_headers = [&](const HttpRequest& r) -> std::optional<HttpResponse> {
      coordinator::Coordinator* c = serving.load();
      return c ? c->CheckHeaders(r) : std::nullopt;
    };
    HttpServer server([&](const HttpRequest& r) {
      coordinator::Coordinator* c = serving.load();
      return c ? c->Handle(r) : HttpResponse::Error(503, "starting", "the coordinator is starting");
    }, serve_http);
    if (!server.Start(host, port, &err)) {
      spdlog::error("{}", err);
      return 2;
    }
    if (serve_opts.public_url.empty())
      serve_opts.public_url = "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                              ":" + std::to_string(server.port());
    if (serve_opts.require_standing && serve_opts.trusted_accounts.empty())
      spdlog::warn("no --trusted-account: no volunteer has standing yet, so no verdict will be published "
                   "until some do (name the accounts you trust, or pass --no-standing for a closed network)");
    coordinator::Coordinator coord(serve_opts);
    if (!coord.Open(&err)) {
      spdlog::error("{}", err);
      return 2;
    }
    serving = &coord;
    if (!serve_opts.index_url.empty() && !coord.SyncOnce(&err)) spdlog::warn("index sync: {}", err);
    coord.StartBackground();
    spdlog::info("coordinator serving {} (data {}); Ctrl-C stops it", serve_opts.public_url,
                 serve_opts.data_dir.string());
    WaitForStop();
    spdlog::info("stopping");
    server.Stop();
    coord.Stop();
    return 0;
  }

  if (*ingest_cmd) return coordinator::RunIngestSnapshot(ingest_file, ingest_data, ingest_platforms);
  if (*stats_cmd) return coordinator::RunExportStats(stats_dir, stats_data);

  if (*vol_cmd) {
    for (auto [flag, key] : {std::pair{"--coordinator", "coordinator"}, {"--data", "data"}, {"--account", "account"},
                             {"--name", "name"}, {"--slots", "slots"}, {"--interpreter", "use"},
                             {"--skip-interpreter", "skip"}, {"--cache-size-mb", "cache_size_mb"}, {"--nice", "nice"}, {"--index-host", "index_hosts"}, {"--source-address", "source_address"},
                             {"--ionice", "ionice"}, {"--max-load", "max_load"}, {"--idle-only", "idle_only"}})
      if (vol_cmd->count(flag)) vol_opts.flag_keys.push_back(key);
    if (app.count("--log-level")) {
      vol_opts.log_level = log_level;
      vol_opts.flag_keys.push_back("log_level");
    }
    if (!vol_opts.source_address.empty() && !volunteer::IsIpAddressLiteral(vol_opts.source_address)) {
      spdlog::error("--source-address '{}' is not an IP address: give one of this machine's addresses, e.g. "
                    "--source-address 192.0.2.10",
                    vol_opts.source_address);
      return 2;
    }
    vol_opts.config_file = vol_config;
    volunteer::DaemonOptions resolved;
    std::string resolve_err;
    if (!volunteer::ResolveOptions(vol_opts, &resolved, &resolve_err)) {
      spdlog::error("{}", resolve_err);
      return 2;
    }
    vol_opts = resolved;
    if (*vol_pause || *vol_resume) return volunteer::PauseDaemon(vol_opts.data_dir, vol_pause->parsed());
    if (*vol_install) {
      svc.create_user = !no_user;
      svc.coordinator_url = vol_opts.coordinator_url;
      svc.account_key = vol_opts.account_key;
      return volunteer::InstallService(svc);
    }
    if (*vol_status) {
      std::string text, err;
      if (!ReadFile(vol_opts.data_dir / "status.json", &text, &err)) {
        std::fprintf(stderr, "no daemon status in %s (is the daemon running with --data %s?): %s\n",
                     vol_opts.data_dir.c_str(), vol_opts.data_dir.c_str(), err.c_str());
        return 2;
      }
      nlohmann::json s = ParseJsonOrDiscarded(text);
      if (!s.is_object()) {
        std::fprintf(stderr, "%s/status.json is not valid JSON\n", vol_opts.data_dir.c_str());
        return 2;
      }
      // EPERM: it runs, as another user (the service's).
      bool alive = s.contains("pid") && s["pid"].is_number_integer() &&
                   (kill(s["pid"].get<int>(), 0) == 0 || errno == EPERM);
      std::fputs(volunteer::FormatStatus(s, alive, NowSeconds()).c_str(), stdout);
      return 0;
    }
    if (vol_opts.coordinator_url.empty()) {
      spdlog::error("--coordinator URL is required, e.g. --coordinator {}", kDefaultCoordinator);
      return 2;
    }
    int rc = volunteer::RunDaemon(vol_opts, volunteer::DaemonControl{&g_stop, &g_reload});
    spdlog::default_logger()->flush();
    std::_Exit(rc);  // task threads may still run; their sandboxes die with us
  }

  if (*account_cmd) {
    std::string err;
    if (!IsValidAccountName(account_name)) {
      spdlog::error("account name '{}' must be 1-64 letters, digits, '-', '_' or '.'", account_name);
      return 2;
    }
    fs::path file = account_dir / (account_name + ".key");
    auto key = SigningKey::Generate();
    if (!key->Save(file, &err)) {
      spdlog::error("{}", err);
      return 2;
    }
    std::printf("account %s created\n  key file:   %s (mode 0600; keep it secret, back it up)\n  public key: %s\n"
                "Enrol a machine with: corral volunteer --coordinator URL --account %s\n",
                account_name.c_str(), file.c_str(), key->public_hex().c_str(), file.c_str());
    return 0;
  }

  if (*index_cmd) {
    std::string host, err;
    int port = 0;
    if (!SplitHostPort(index_listen, &host, &port, &err)) {
      spdlog::error("{}", err);
      return 2;
    }
    if (index_demo && (!EnsureDir(index_dir, &err) || !WriteDemoCorpus(index_dir, &err) ||
                       !CopyBuildToolWheels(index_dir, &err))) {
      spdlog::error("{}", err);
      return 2;
    }
    LocalIndex index;
    if (!index.Load(index_dir, &err)) {
      spdlog::error("{}", err);
      return 2;
    }
    HttpServer server([&](const HttpRequest& r) { return index.Handle(r); });
    if (!server.Start(host, port, &err)) {
      spdlog::error("{}", err);
      return 2;
    }
    std::printf("index of %s at http://%s:%d/simple/ (%zu projects); files added to or removed from the "
                "folder are published within a second; Ctrl-C stops it\n",
                index_dir.c_str(), host.c_str(), server.port(), index.ProjectNames().size());
    std::fflush(stdout);
    // The folder's mtime changes when a file is added, removed or renamed
    // into it: rescan then (and on SIGHUP). Pages keep serving the previous
    // snapshot while a rescan hashes new files.
    std::error_code ec;
    auto seen = fs::last_write_time(index_dir, ec);
    while (!g_stop.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      auto now = fs::last_write_time(index_dir, ec);
      if (ec || (now == seen && !g_reload.exchange(false))) continue;
      seen = now;
      if (index.Reload(&err))
        spdlog::info("index: rescanned {}: {} projects, serial {}", index_dir.string(), index.ProjectNames().size(),
                     index.last_serial());
      else
        spdlog::error("index: rescanning {} failed, still serving what it had: {}", index_dir.string(), err);
    }
    server.Stop();
    return 0;
  }

  if (*export_cmd) {
    coordinator::StaticExportStats st;
    std::string err;
    if (!coordinator::ExportStatic(export_opts, &st, &err)) {
      spdlog::error("export-static: {}", err);
      return 2;
    }
    std::printf("%s", coordinator::DescribeExport(export_opts.out_dir, st).c_str());
    return 0;
  }

  if (*repro_cmd) return volunteer::Reproduce(repro_opts);

  if (*lookup_cmd) {
    std::string base = lookup_coordinator;
    while (!base.empty() && base.back() == '/') base.pop_back();
    std::string url = base + "/api/v1/compat?project=" + UrlEncode(lookup_project) + "&os=" +
                      UrlEncode(lookup_os) + "&python=" + UrlEncode(lookup_python);
    if (!lookup_version.empty()) url += "&version=" + UrlEncode(lookup_version);
    HttpResult r = HttpClient().Get(url, {{"Accept", "application/json"}});
    nlohmann::json j = ParseJsonOrDiscarded(r.body);
    if (!r.error.empty()) {
      std::fprintf(stderr, "cannot reach the coordinator at %s: %s\n", base.c_str(), r.error.c_str());
      return 2;
    }
    if (!j.is_object()) {
      std::fprintf(stderr, "unexpected answer from %s: %s\n", url.c_str(), r.Describe().c_str());
      return 2;
    }
    if (r.status != 200) {
      std::fprintf(stderr, "%s\n", j.value("detail", r.Describe()).c_str());
      return j.value("error", "") == "unknown_project" ? 1 : 2;
    }
    std::printf("%s\n", j.value("sentence", "").c_str());
    for (const auto& e : j.value("evidence", nlohmann::json::array()))
      std::printf("  %s %s: %s (%d volunteers agreed) %s/tasks/%s\n", e.value("version", "").c_str(),
                  e.value("platform", "").c_str(), e.value("status", "").c_str(), e.value("agreeing", 0),
                  base.c_str(), e.value("task_id", "").c_str());
    return j.value("answer", "") == "yes" ? 0 : 1;
  }
  return 2;
}
