#include "volunteer/platform_choice.h"

#include <spdlog/spdlog.h>

#include <filesystem>

namespace corral::volunteer {

namespace {

// Splits "3.11.7" into numbers for ordering interpreters of one tag.
std::vector<int> VersionNumbers(const std::string& v) {
  std::vector<int> out;
  int n = 0;
  bool any = false;
  for (char c : v) {
    if (c >= '0' && c <= '9') {
      n = n * 10 + (c - '0');
      any = true;
    } else if (c == '.') {
      out.push_back(n);
      n = 0;
      any = false;
    } else {
      break;
    }
  }
  if (any) out.push_back(n);
  return out;
}

// Paths name the same interpreter when they resolve to the same file
// (pyenv's bin/python is a link to bin/python3.12).
bool SamePath(const std::string& a, const std::string& b) {
  if (a == b) return true;
  std::error_code ea, eb;
  auto ca = std::filesystem::canonical(a, ea), cb = std::filesystem::canonical(b, eb);
  return !ea && !eb && ca == cb;
}

}  // namespace

std::map<std::string, Platform> ChoosePlatforms(const std::vector<Platform>& found,
                                                const std::vector<std::string>& wanted,
                                                const std::vector<std::string>& skipped) {
  std::map<std::string, Platform> chosen;
  for (const Platform& p : found) {
    std::string tag = p.Tag().ToString();
    bool skip = false;
    for (const auto& s : skipped) skip = skip || s == tag || SamePath(s, p.interpreter_path);
    if (skip) {
      spdlog::info("not using {} ({}): listed in skip", p.interpreter_path, tag);
      continue;
    }
    if (!wanted.empty()) {
      bool listed = false;
      for (const auto& w : wanted) listed = listed || w == tag || SamePath(w, p.interpreter_path);
      if (!listed) {
        spdlog::debug("not using {} ({}): not in the configured interpreters", p.interpreter_path, tag);
        continue;
      }
    }
    auto it = chosen.find(tag);
    if (it == chosen.end()) {
      chosen[tag] = p;
      continue;
    }
    const Platform& other = it->second;
    bool better = (p.has_headers && !other.has_headers) ||
                  (p.has_headers == other.has_headers &&
                   VersionNumbers(p.python_version) > VersionNumbers(other.python_version));
    const Platform& loser = better ? other : p;
    spdlog::info("not using {} ({}): {} already offers that platform", loser.interpreter_path, tag,
                 better ? p.interpreter_path : other.interpreter_path);
    if (better) chosen[tag] = p;
  }
  return chosen;
}

}  // namespace corral::volunteer
