#include "common/isolation.h"

#include <sstream>

namespace corral {

namespace {

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\n");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\n");
  return s.substr(a, b - a + 1);
}

void EachOf(const std::string& list, char sep, const auto& fn) {
  std::istringstream in(list);
  std::string item;
  while (std::getline(in, item, sep)) {
    item = Trim(item);
    if (!item.empty()) fn(item);
  }
}

}  // namespace

std::set<std::string> IsolationFeatures(const std::string& level) {
  std::set<std::string> out;
  EachOf(level, ';', [&](const std::string& part) {
    size_t colon = part.find(':');
    size_t eq = part.find('=');
    if (colon != std::string::npos && (eq == std::string::npos || colon < eq)) {
      // "bwrap:net,pid,..." : the runner and its namespaces.
      out.insert(part.substr(0, colon));
      EachOf(part.substr(colon + 1), ',', [&](const std::string& ns) { out.insert("ns:" + ns); });
      return;
    }
    if (eq == std::string::npos) {
      out.insert(part);
      return;
    }
    std::string key = Trim(part.substr(0, eq)), value = Trim(part.substr(eq + 1));
    if (key == "tmpfs") {
      out.insert("tmpfs");
    } else if (key == "seccomp") {
      if (value != "none" && !value.empty()) out.insert("seccomp=" + value);
    } else if (key == "cgroups") {
      EachOf(value, ',', [&](const std::string& c) { out.insert("cgroup:" + c); });
    } else {
      out.insert(key + "=" + value);
    }
  });
  return out;
}

bool IsolationSatisfies(const std::string& level, const std::string& requirement,
                        std::string* missing) {
  std::set<std::string> have = IsolationFeatures(level);
  std::string lacking;
  for (const std::string& f : IsolationFeatures(requirement))
    if (!have.count(f)) lacking += (lacking.empty() ? "" : ",") + f;
  if (missing) *missing = lacking;
  return lacking.empty();
}

}  // namespace corral
