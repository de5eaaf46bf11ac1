// The volunteer's configuration file (TOML, DESIGN.md section 5: "config file
// plus flags"). Flat keys, documented in packaging/volunteer.toml:
//   coordinator, data, account, name, slots, use, skip, cache_size_mb,
//   nice, ionice, max_load, idle_only, log_level.
// Flags win over the file: the CLI records which keys it was given as flags
// (DaemonOptions::flag_keys) and the file never overrides those, neither at
// start nor when SIGHUP reloads it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "volunteer/daemon.h"

namespace corral::volunteer {

// True for an IPv4 or IPv6 address literal ("192.0.2.10", "::1"): the form
// `source_address` (--source-address) takes. Never fails otherwise.
bool IsIpAddressLiteral(const std::string& s);

// Every key a configuration file may hold, in documentation order.
const std::vector<std::string>& ConfigKeys();

// Reads `file` and sets in *out only the keys the file holds; the other
// fields keep their values. On any problem returns false, leaves *out
// untouched and sets *err to "FILE:LINE: KEY must be ..., got VALUE" (or
// "FILE:LINE:COL: ..." for TOML syntax errors); an unknown key is an error
// too, naming the nearest known key when there is one.
bool LoadConfig(const std::filesystem::path& file, DaemonOptions* out, std::string* err);

// The same, but keys named in `keep` are validated and not applied.
bool LoadConfigExcept(const std::filesystem::path& file, const std::vector<std::string>& keep,
                      DaemonOptions* out, std::string* err);

// The options the daemon runs with: `flags` (the command line, whose
// unset fields hold the defaults) with flags.config_file applied under it,
// keys listed in flags.flag_keys excepted. With no config_file, *out = flags.
// The daemon calls it again on SIGHUP with the options it runs with (which
// carry config_file and flag_keys), so flags still win after a reload; a key
// deleted from the file keeps its current value until a restart.
bool ResolveOptions(const DaemonOptions& flags, DaemonOptions* out, std::string* err);

}  // namespace corral::volunteer
