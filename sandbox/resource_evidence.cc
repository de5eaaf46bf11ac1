#include "sandbox/resource_evidence.h"

#include <vector>

namespace corral::sandbox {

namespace {

// The line of `text` around position `at`.
std::string LineAt(const std::string& text, size_t at) {
  size_t start = text.rfind('\n', at);
  start = start == std::string::npos ? 0 : start + 1;
  size_t end = text.find('\n', at);
  std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  size_t first = line.find_first_not_of(' ');
  line = first == std::string::npos ? "" : line.substr(first);
  return line.size() > 200 ? line.substr(0, 200) + "..." : line;
}

// The `lines` lines before position `at`, for context checks.
std::string Before(const std::string& text, size_t at, int lines) {
  size_t start = at;
  for (int i = 0; i <= lines && start > 0; ++i) {
    size_t nl = text.rfind('\n', start - 1);
    if (nl == std::string::npos) {
      start = 0;
      break;
    }
    start = nl;
  }
  return text.substr(start, at - start);
}

struct Pattern {
  const char* text;
  const char* limit;
  // When set, the word must appear on the line or in the 4 lines before it
  // (EAGAIN means "processes" only next to a fork or a thread).
  std::vector<const char*> context;
};

}  // namespace

std::string StepOutput(const std::string& log, const std::string& step, size_t max_bytes) {
  std::string header = "==> [corral] " + step + (step.empty() ? "" : ":");
  size_t at = log.rfind(header);
  if (at == std::string::npos) at = 0;
  if (log.size() - at > max_bytes) at = log.size() - max_bytes;
  return log.substr(at);
}

std::string ResourceEvidence(const CgroupUsage& usage, const std::string& output) {
  if (usage.oom_kills > 0)
    return "memory limit reached: the job's cgroup killed " + std::to_string(usage.oom_kills) +
           " process(es) out of memory";
  if (usage.pids_max_hits > 0)
    return "process limit reached: the job's cgroup refused " +
           std::to_string(usage.pids_max_hits) + " fork(s)";
  static const std::vector<Pattern> kPatterns = {
      {"MemoryError", "memory limit reached", {}},
      {"Cannot allocate memory", "memory limit reached", {}},
      {"std::bad_alloc", "memory limit reached", {}},
      {"No space left on device", "disk limit reached", {}},
      {"Disk quota exceeded", "disk limit reached", {}},
      {"File too large", "file size limit reached", {}},
      {"exit status -25", "file size limit reached (SIGXFSZ)", {}},
      {"signal 25", "file size limit reached (SIGXFSZ)", {}},
      {"exit status -24", "CPU time limit reached (SIGXCPU)", {}},
      {"Too many open files", "open files limit reached", {}},
      {"can't start new thread", "process limit reached", {}},
      {"Resource temporarily unavailable", "process limit reached",
       {"fork", "spawn", "Popen", "thread", "clone"}},
  };
  // The earliest evidence explains best (later errors are often consequences).
  size_t best_at = std::string::npos;
  std::string best;
  for (const Pattern& p : kPatterns) {
    for (size_t at = output.find(p.text); at != std::string::npos;
         at = output.find(p.text, at + 1)) {
      if (!p.context.empty()) {
        std::string around = Before(output, at, 4) + LineAt(output, at);
        bool seen = false;
        for (const char* w : p.context) seen = seen || around.find(w) != std::string::npos;
        if (!seen) continue;
      }
      if (at < best_at) {
        best_at = at;
        best = std::string(p.limit) + ": " + LineAt(output, at);
      }
      break;
    }
  }
  return best;
}

}  // namespace corral::sandbox
