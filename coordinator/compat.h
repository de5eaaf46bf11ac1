// The lookup question, "does PROJECT work on OS with Python X.Y?", answered
// from a project's matrix: yes, no, unsupported or unknown, with a sentence in
// plain English and the cells it rests on. Pure logic over Matrix.
#pragma once

#include <string>
#include <vector>

#include "coordinator/matrix.h"

namespace corral::coordinator {

class Store;

struct CompatQuestion {
  std::string os;              // "linux", "windows" or "macos"
  int major = 0, minor = 0;    // Python X.Y
  std::string implementation;  // "cp" (default) or "pp"
  std::string version;         // a release to ask about, or "" for the newest
};

struct CompatEvidence {
  std::string version, platform, status, task_id;
  int agreeing = 0;
};

struct CompatAnswer {
  std::string answer;  // "yes", "no", "unknown", "unsupported"
  std::string sentence;
  std::string version;                 // the release the answer is about
  std::string newest_working_version;  // "" when none
  std::vector<CompatEvidence> evidence;
  // The cells of the newest working version on the asked platform, when it
  // is not the answered version (why "the newest version that works").
  std::vector<CompatEvidence> newest_working_evidence;
};

// The answer in words for people: "Yes", "No", "Unknown", "Not supported by
// the package" (Requires-Python excludes that Python).
std::string AnswerWords(const std::string& answer);

// Checks os and python ("X.Y") and fills *q; false with *err saying what is
// accepted.
bool ParseCompatQuestion(const std::string& os, const std::string& python,
                         const std::string& implementation, const std::string& version,
                         CompatQuestion* q, std::string* err);

// Reads from the store only what AnswerCompat needs to answer `q` about
// project `name` (normalised): a row per version (newest first) whose cells
// are only those of the platforms matching q (OS, Python X.Y,
// implementation), and Requires-Python, file name and yanked for the row the
// answer is about (q.version, else the newest). Cells are read newest
// version first and only until the answered row and a working one were
// read: the rows below have no cells (they cannot change the answer). One
// key scan of the project's tasks and a few verdict reads, instead of every
// task, verdict and file of the project (LoadMatrix), so that projects with
// thousands of releases answer in milliseconds. `platforms` is the
// coordinator's platform set (every tag tasks were made for). False when the
// project is unknown.
bool LoadCompatMatrix(const Store& store, const std::string& name,
                      const std::vector<std::string>& platforms, const CompatQuestion& q,
                      Matrix* out);

// Answers for the asked version, or the newest one. False with *err when the
// asked version is not in the matrix.
bool AnswerCompat(const Matrix& m, const CompatQuestion& q, CompatAnswer* out, std::string* err);

}  // namespace corral::coordinator
