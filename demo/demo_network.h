// `corral demo`: the whole network on one machine (DESIGN.md section 4a).
// A local index of generated packages, a coordinator on RocksDB, and two
// volunteer processes under two accounts, with the site on loopback.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "common/protocol.h"

namespace corral::demo {

struct DemoOptions {
  int port = kDefaultPort;                  // the site and API (the index uses port + 1); 0: any free ports
  std::filesystem::path data_dir;           // everything the demo writes
  std::vector<std::string> interpreters;    // restrict volunteers to these paths or tags
  int slots = 1;                            // per volunteer
  bool exit_when_done = false;              // stop once every task has a verdict
  std::filesystem::path self;               // the corral binary, for the volunteer processes
};

// Runs until *stop (Ctrl-C) or, with exit_when_done, until the matrix is
// complete. Returns 0 on success, 1 when the network could not finish,
// 2 on a usage or configuration error.
int RunDemo(const DemoOptions& options, std::atomic<bool>* stop);

}  // namespace corral::demo
