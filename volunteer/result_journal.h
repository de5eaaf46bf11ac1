// Signed results the coordinator has not acknowledged yet. A result is
// written here (fsynced) before it is submitted and removed only once the
// coordinator accepted it, so a crash or kill -9 loses nothing and a restart
// resubmits; the coordinator treats a resubmission as the same result.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace corral::volunteer {

// A file the result refers to by digest (its log, its wheel), uploaded
// before the result itself.
struct Artifact {
  std::string sha256;
  std::filesystem::path path;
};

class ResultJournal {
 public:
  // One entry per lease: dir/<lease_id>.json; artifacts in dir/artifacts/.
  explicit ResultJournal(std::filesystem::path dir);

  // Creates the folders and removes temporary files a crash left behind.
  bool Open(std::string* err);

  // Durably records a signed result and keeps copies of its artifacts.
  bool Add(const std::string& lease_id, const nlohmann::json& envelope,
           const std::vector<Artifact>& artifacts, std::string* err);

  struct Entry {
    std::string lease_id;
    nlohmann::json envelope;
    std::vector<Artifact> artifacts;  // paths inside the journal
    std::filesystem::path file;
  };
  // Entries waiting for submission, oldest first. An entry that cannot be
  // read is moved to dir/corrupt/ and described in *problems; never fatal.
  std::vector<Entry> Pending(std::vector<std::string>* problems);

  // The coordinator acknowledged the entry: forget it and its artifacts.
  void Remove(const Entry& entry);
  // The coordinator refused it for good: keep it in dir/rejected/ with the reason.
  void SetAside(const Entry& entry, const std::string& why);

  // Entries waiting, counted without reading them (a corrupt one counts
  // until Pending sets it aside).
  size_t size();

 private:
  void DropArtifacts(const Entry& entry);
  std::filesystem::path dir_;
};

}  // namespace corral::volunteer
