// `corral volunteer pause` / `resume`. A paused daemon leases nothing new,
// lets running tasks finish, and keeps heartbeating and delivering its
// journal. The state is a file, data_dir/paused, so it survives restarts and
// needs no channel to the daemon: the daemon looks for it every loop.
#pragma once

#include <filesystem>
#include <string>

namespace corral::volunteer {

// Creates (pause) or removes (resume) data_dir/paused, recording who paused
// and when. Prints what happened to stdout, problems to stderr. Returns a
// process exit code: 0 done (also when already in that state), 2 when
// data_dir does not exist or the file cannot be written or removed.
int PauseDaemon(const std::filesystem::path& data_dir, bool pause);

// True when data_dir/paused exists; *who gets its content ("by USER at TIME").
bool IsPaused(const std::filesystem::path& data_dir, std::string* who);

}  // namespace corral::volunteer
