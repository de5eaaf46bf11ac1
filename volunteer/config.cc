#include "volunteer/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <functional>
#include <sstream>
#include <toml++/toml.h>

namespace corral::volunteer {

bool IsIpAddressLiteral(const std::string& s) {
  in6_addr v6;
  in_addr v4;
  return inet_pton(AF_INET, s.c_str(), &v4) == 1 || inet_pton(AF_INET6, s.c_str(), &v6) == 1;
}

namespace fs = std::filesystem;

namespace {

// How one key is checked and stored. `set` returns false with *why
// completing "KEY ..." (e.g. "must be an integer from 1 to 64").
struct KeySpec {
  const char* name;
  std::function<bool(const toml::node&, const fs::path& base, DaemonOptions*, std::string* why)> set;
  std::function<void(const DaemonOptions& from, DaemonOptions* to)> copy;
};

bool Integer(const toml::node& n, int64_t lo, int64_t hi, int64_t* out) {
  const auto* i = n.as_integer();
  if (!i || i->get() < lo || i->get() > hi) return false;
  *out = i->get();
  return true;
}

bool String(const toml::node& n, std::string* out) {
  const auto* s = n.as_string();
  if (!s) return false;
  *out = s->get();
  return true;
}

bool StringArray(const toml::node& n, std::vector<std::string>* out) {
  const auto* a = n.as_array();
  if (!a) return false;
  std::vector<std::string> v;
  for (const toml::node& item : *a) {
    const auto* s = item.as_string();
    if (!s || s->get().empty()) return false;
    v.push_back(s->get());
  }
  *out = std::move(v);
  return true;
}

bool Path(const toml::node& n, const fs::path& base, fs::path* out) {
  std::string s;
  if (!String(n, &s) || s.empty()) return false;
  fs::path p(s);
  *out = p.is_absolute() ? p : base / p;  // relative to the file's folder
  return true;
}

bool OneOf(const toml::node& n, std::initializer_list<const char*> allowed, std::string* out) {
  std::string s;
  if (!String(n, &s)) return false;
  for (const char* a : allowed)
    if (s == a) {
      *out = s;
      return true;
    }
  return false;
}

const std::vector<KeySpec>& Specs() {
  static const std::vector<KeySpec> specs = {
      {"coordinator",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         std::string s;
         if (!String(n, &s) || (s.rfind("http://", 0) != 0 && s.rfind("https://", 0) != 0)) {
           *why = "must be a URL starting with http:// or https://";
           return false;
         }
         o->coordinator_url = s;
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->coordinator_url = f.coordinator_url; }},
      {"data",
       [](const toml::node& n, const fs::path& base, DaemonOptions* o, std::string* why) {
         if (!Path(n, base, &o->data_dir)) {
           *why = "must be a folder path (string)";
           return false;
         }
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->data_dir = f.data_dir; }},
      {"account",
       [](const toml::node& n, const fs::path& base, DaemonOptions* o, std::string* why) {
         if (!Path(n, base, &o->account_key)) {
           *why = "must be the path of a key file from `corral account create` (string)";
           return false;
         }
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->account_key = f.account_key; }},
      {"name",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         std::string s;
         if (!String(n, &s) || s.empty() || s.size() > 64) {
           *why = "must be a string of 1 to 64 characters";
           return false;
         }
         o->machine_name = s;
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->machine_name = f.machine_name; }},
      {"slots",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         int64_t v;
         if (!Integer(n, 1, 64, &v)) {
           *why = "must be an integer from 1 to 64";
           return false;
         }
         o->slots = static_cast<int>(v);
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->slots = f.slots; }},
      {"use",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         if (!StringArray(n, &o->interpreters)) {
           *why = "must be an array of interpreter paths or platform tags, e.g. [\"cp312-linux_x86_64\"]";
           return false;
         }
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->interpreters = f.interpreters; }},
      {"skip",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         if (!StringArray(n, &o->skip_interpreters)) {
           *why = "must be an array of interpreter paths or platform tags, e.g. [\"/usr/bin/pypy3\"]";
           return false;
         }
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->skip_interpreters = f.skip_interpreters; }},
      {"source_address",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         std::string s;
         if (!String(n, &s) || !IsIpAddressLiteral(s)) {
           *why = "must be a local IPv4 or IPv6 address, e.g. \"192.0.2.10\"";
           return false;
         }
         o->source_address = s;
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->source_address = f.source_address; }},
      {"index_hosts",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         if (!StringArray(n, &o->extra_index_hosts)) {
           *why = "must be an array of \"host[:port]\" strings, e.g. [\"files.pythonhosted.org\"]";
           return false;
         }
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->extra_index_hosts = f.extra_index_hosts; }},
      {"cache_size_mb",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         int64_t v;
         if (!Integer(n, 0, int64_t{1} << 30, &v)) {
           *why = "must be a whole number of megabytes, 0 for no cap";
           return false;
         }
         o->cache_size_mb = v;
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->cache_size_mb = f.cache_size_mb; }},
      {"nice",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         int64_t v;
         if (!Integer(n, 0, 19, &v)) {
           *why = "must be an integer from 0 (normal priority) to 19 (lowest)";
           return false;
         }
         o->nice = static_cast<int>(v);
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->nice = f.nice; }},
      {"ionice",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         if (!OneOf(n, {"idle", "best-effort", "none"}, &o->ionice)) {
           *why = "must be \"idle\", \"best-effort\" or \"none\"";
           return false;
         }
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->ionice = f.ionice; }},
      {"max_load",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         double v = -1;
         if (const auto* i = n.as_integer()) v = static_cast<double>(i->get());
         if (const auto* f = n.as_floating_point()) v = f->get();
         if (!(v >= 0 && v <= 10000)) {
           *why = "must be a number >= 0 (the 1-minute load average; 0: no limit)";
           return false;
         }
         o->max_load = v;
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->max_load = f.max_load; }},
      {"idle_only",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         const auto* b = n.as_boolean();
         if (!b) {
           *why = "must be true or false";
           return false;
         }
         o->idle_only = b->get();
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->idle_only = f.idle_only; }},
      {"log_level",
       [](const toml::node& n, const fs::path&, DaemonOptions* o, std::string* why) {
         if (!OneOf(n, {"trace", "debug", "info", "warn", "error", "critical", "off"}, &o->log_level)) {
           *why = "must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", \"critical\", \"off\"";
           return false;
         }
         return true;
       },
       [](const DaemonOptions& f, DaemonOptions* t) { t->log_level = f.log_level; }},
  };
  return specs;
}

// The value as the user wrote it, for error messages.
std::string Shown(const toml::node& n) {
  if (const auto* s = n.as_string()) return "\"" + s->get() + "\"";
  if (n.is_table()) return "a table";
  std::ostringstream os;
  n.visit([&](const auto& v) { os << v; });
  std::string out = os.str();
  if (out.size() > 80) out = out.substr(0, 77) + "...";
  return out;
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

const std::vector<std::string>& ConfigKeys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const auto& s : Specs()) k.push_back(s.name);
    return k;
  }();
  return keys;
}

bool LoadConfig(const fs::path& file, DaemonOptions* out, std::string* err) {
  return LoadConfigExcept(file, {}, out, err);
}

bool LoadConfigExcept(const fs::path& file, const std::vector<std::string>& keep, DaemonOptions* out,
                      std::string* err) {
  const std::string where = file.string();
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    *err = "configuration file " + where + " does not exist or is not a file; pass --config FILE "
           "(packaging/volunteer.toml is a commented example)";
    return false;
  }
  toml::table doc;
  try {
    doc = toml::parse_file(where);
  } catch (const toml::parse_error& e) {
    *err = where + ":" + std::to_string(e.source().begin.line) + ":" + std::to_string(e.source().begin.column) +
           ": not valid TOML: " + std::string(e.description());
    return false;
  }
  const fs::path base = fs::absolute(file, ec).parent_path();
  DaemonOptions parsed = *out;
  std::vector<const KeySpec*> present;
  for (const auto& [key, node] : doc) {
    const std::string name(key.str());
    auto line = [&](const toml::source_region& r) {
      return where + ":" + std::to_string(r.begin.line) + ": ";
    };
    const KeySpec* spec = nullptr;
    for (const auto& s : Specs())
      if (name == s.name) spec = &s;
    if (!spec) {
      std::string best;
      size_t best_d = 3;  // suggest only near misses
      for (const auto& s : Specs()) {
        size_t d = EditDistance(name, s.name);
        if (d < best_d) best_d = d, best = s.name;
      }
      *err = line(key.source()) + "unknown key \"" + name + "\"" +
             (best.empty() ? "" : " (did you mean \"" + best + "\"?)") + "; known keys: ";
      for (size_t i = 0; i < ConfigKeys().size(); ++i) *err += (i ? ", " : "") + ConfigKeys()[i];
      return false;
    }
    std::string why;
    if (!spec->set(node, base, &parsed, &why)) {
      *err = line(node.source()) + name + " " + why + ", got " + Shown(node);
      return false;
    }
    present.push_back(spec);
  }
  for (const KeySpec* s : present)
    if (std::find(keep.begin(), keep.end(), s->name) == keep.end()) s->copy(parsed, out);
  return true;
}

bool ResolveOptions(const DaemonOptions& flags, DaemonOptions* out, std::string* err) {
  DaemonOptions o = flags;
  if (!flags.config_file.empty() && !LoadConfigExcept(flags.config_file, flags.flag_keys, &o, err)) return false;
  *out = std::move(o);
  return true;
}

}  // namespace corral::volunteer
