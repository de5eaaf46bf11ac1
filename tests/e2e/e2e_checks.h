// The checks the end-to-end test runs against one finished demo network, one
// file each so that each part of the public face owns its own checks:
// wheel_index_check.cc, browser_check.cc, static_export_check.cc. They are
// called in order from demo_network_test.cc, which starts the network once
// (a demo run costs minutes, so the checks share it).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "common/platform.h"

namespace corral {

struct DemoRun {
  std::string base;                     // the coordinator, "http://127.0.0.1:PORT"
  std::filesystem::path data;           // the test's scratch directory (removed at the end)
  std::filesystem::path demo_data;      // `corral demo --data`: index/, coordinator/, volunteers/
  std::filesystem::path output;         // kept after the test: screenshots, logs
  std::map<std::string, Platform> by_tag;  // the interpreters the network ran on, by tag
};

// Where checks keep what a person may want to look at afterwards
// (screenshots, fetched pages): <build>/test-output/e2e, created on demand.
std::filesystem::path E2eOutputDir();

// While the network runs: a real pip installs a demo package from the
// coordinator's /simple/ into fresh virtual environments and imports it.
void CheckWheelIndex(const DemoRun& run);
// While the network runs: headless Chromium over the site (search, matrix,
// leaderboard, a log), screenshots kept in run.output.
void CheckSiteInBrowser(const DemoRun& run);
// After the network stopped: `corral export-static` of its data, served by
// nginx, and pip installing from the export.
void CheckStaticExport(const DemoRun& run);

}  // namespace corral
