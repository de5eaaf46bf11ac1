// `corral reproduce TASK --coordinator URL`: reruns one task on this machine
// in the same sandbox a volunteer uses, and prints every command, the
// environment, the log and the outcome beside the network's verdict. It is
// how anyone sees a failure for themselves.
#pragma once

#include <filesystem>
#include <string>

namespace corral::volunteer {

struct ReproduceOptions {
  std::string task_id;
  std::string coordinator_url;
  std::filesystem::path data_dir;  // download cache, venv templates, the kept work folder
  std::string interpreter;         // path to use instead of the one discovered for the tag
  std::string index_url;           // where requirements come from; "" = the one the coordinator names
};

// Returns 0 when the local outcome matches the network's verdict, 1 when it
// differs (or the task has no verdict to compare with), 2 on a usage or
// configuration error (unknown task, no interpreter for its platform).
int Reproduce(const ReproduceOptions& options);

}  // namespace corral::volunteer
