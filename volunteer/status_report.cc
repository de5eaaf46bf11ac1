#include "volunteer/status_report.h"

#include <spdlog/fmt/fmt.h>

#include <cmath>
#include <ctime>

namespace corral::volunteer {

namespace {

std::string Clock(int64_t t) {
  if (t <= 0) return "never";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string Duration(double s) {
  if (s < 0) s = 0;
  if (s < 120) return fmt::format("{:.0f} s", s);
  if (s < 7200) return fmt::format("{:.0f} min {:.0f} s", std::floor(s / 60), std::fmod(s, 60));
  return fmt::format("{:.0f} h {:.0f} min", std::floor(s / 3600), std::fmod(s, 3600) / 60);
}

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

double Num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0;
}

}  // namespace

std::string FormatStatus(const nlohmann::json& s, bool alive, int64_t now) {
  std::string out;
  auto line = [&](const std::string& label, const std::string& text) {
    out += fmt::format("{:<13}{}\n", label + ":", text);
  };
  int64_t updated = static_cast<int64_t>(Num(s, "updated_at"));
  line("daemon", alive ? fmt::format("running (pid {}), status written {} ago", s.value("pid", 0),
                                     Duration(static_cast<double>(now - updated)))
                       : fmt::format("not running (pid {} is gone; what follows is from {})", s.value("pid", 0),
                                     Clock(updated)));
  if (!Str(s, "volunteer_id").empty())
    line("machine", fmt::format("{} ({}...) under account {}", Str(s, "machine_name"),
                                Str(s, "volunteer_id").substr(0, 16), Str(s, "account")));
  if (s.value("reachable", false)) {
    line("coordinator", Str(s, "coordinator") + " (reachable)");
  } else {
    int64_t since = static_cast<int64_t>(Num(s, "unreachable_since"));
    std::string text = Str(s, "coordinator") + " (UNREACHABLE";
    if (since > 0) text += " since " + Clock(since) + ", " + Duration(static_cast<double>(now - since));
    text += ")";
    if (!Str(s, "last_error").empty()) text += ": " + Str(s, "last_error");
    if (alive) text += "; retrying with backoff, results wait in the journal";
    line("coordinator", text);
  }
  line("isolation", Str(s, "isolation").empty() ? "not measured yet (it is, with the first task)"
                                                : Str(s, "isolation"));
  if (s.contains("credit") && s["credit"].is_object()) {
    const auto& c = s["credit"];
    line("credit", fmt::format("{:.1f} ({} verified result(s)), as the coordinator said at {}", Num(c, "credit"),
                               c.value("verified_results", 0), Clock(static_cast<int64_t>(Num(c, "as_of")))));
  } else {
    line("credit", "not known yet (asked of the coordinator once it is reachable)");
  }
  for (const auto& p : s.value("offering", nlohmann::json::array()))
    line("offering", fmt::format("{}: {} ({})", Str(p, "tag"), Str(p, "path"), Str(p, "build")));
  if (s.contains("politeness") && s["politeness"].is_object()) {
    const auto& p = s["politeness"];
    double max_load = Num(p, "max_load");
    line("politeness",
         fmt::format("nice {}, I/O class {}, max_load {}, idle_only {}{}", p.value("nice", 0), Str(p, "ionice"),
                     max_load > 0 ? fmt::format("{:.2f}", max_load) : std::string("none"),
                     p.value("idle_only", false) ? "yes" : "no",
                     Str(p, "idle_source").empty() ? "" : " (idle detection: " + Str(p, "idle_source") + ")"));
  }
  if (s.contains("politeness") && s["politeness"].is_object() && s["politeness"].value("suspended", false))
    line("suspended", "the running tasks wait while the machine is in use (idle_only)");
  if (!Str(s, "held_back").empty()) line("not leasing", Str(s, "held_back"));
  line("journal", fmt::format("{} result(s) not yet acknowledged by the coordinator", s.value("journal_pending", 0)));
  line("tasks done", std::to_string(s.value("tasks_done", 0)) + " since the daemon started");

  auto running = s.value("running", nlohmann::json::array());
  int slots = s.value("slots", 0);
  line("slots", fmt::format("{} of {} busy", running.size(), slots));
  int n = 0;
  for (const auto& r : running)
    out += fmt::format("  slot {}: {} {} on {}: {} for {} (task running {})\n", ++n, Str(r, "project"),
                       Str(r, "version"), Str(r, "platform"), Str(r, "phase"), Duration(Num(r, "phase_elapsed_s")),
                       Duration(Num(r, "elapsed_s")));
  for (int i = n; i < slots; ++i) out += fmt::format("  slot {}: idle\n", i + 1);

  auto recent = s.value("recent_results", nlohmann::json::array());
  out += recent.empty() ? "last results: none yet\n" : "last results:\n";
  for (const auto& r : recent)
    out += fmt::format("  {:<18} {} {} on {} ({:.1f} s), finished {}\n", Str(r, "outcome"), Str(r, "project"),
                       Str(r, "version"), Str(r, "platform"), Num(r, "seconds"),
                       Clock(static_cast<int64_t>(Num(r, "finished_at"))));
  return out;
}

}  // namespace corral::volunteer
