// The lookup question, "does PROJECT work on OS with Python X.Y?", answered
// from a project's matrix: yes, no, unsupported or unknown, with a sentence in
// plain English and the cells it rests on. Pure logic over Matrix.
#pragma once

#include <string>
#include <vector>

#include "coordinator/matrix.h"

namespace corral::coordinator {

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
};

// Checks os and python ("X.Y") and fills *q; false with *err saying what is
// accepted.
bool ParseCompatQuestion(const std::string& os, const std::string& python,
                         const std::string& implementation, const std::string& version,
                         CompatQuestion* q, std::string* err);

// Answers for the asked version, or the newest one. False with *err when the
// asked version is not in the matrix.
bool AnswerCompat(const Matrix& m, const CompatQuestion& q, CompatAnswer* out, std::string* err);

}  // namespace corral::coordinator
