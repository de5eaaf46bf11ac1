#include "coordinator/compat.h"

#include <algorithm>

#include "common/pep440.h"
#include "common/platform.h"

namespace corral::coordinator {

namespace {

bool IsWorking(const std::string& s) { return s == "passed" || s == "no_tests"; }
bool IsFailure(const std::string& s) {
  return s == "tests_failed" || s == "import_failed" || s == "install_failed" ||
         s == "build_failed" || s == "timeout" || s == "resource_exhausted";
}

std::string Words(const std::string& status) {
  std::string out = status;
  std::replace(out.begin(), out.end(), '_', ' ');
  return out;
}

struct RowAnswer {
  std::string answer;
  std::vector<CompatEvidence> evidence;
  const MatrixCell* deciding = nullptr;
  int pending = 0;
};

RowAnswer AnswerRow(const MatrixRow& row, const CompatQuestion& q) {
  RowAnswer a;
  const MatrixCell *working = nullptr, *failing = nullptr;
  bool unsupported = false;
  for (const auto& [platform, cell] : row.cells) {
    PlatformTag t;
    std::string err;
    if (!ParsePlatformTag(platform, &t, &err) || t.os != q.os || t.major != q.major ||
        t.minor != q.minor || t.implementation != q.implementation)
      continue;
    a.evidence.push_back({row.version, platform, cell.status, cell.task_id, cell.agreeing});
    if (IsWorking(cell.status) && !working) working = &cell;
    if (IsFailure(cell.status) && !failing) failing = &cell;
    if (cell.status == "unsupported") unsupported = true;
    if (cell.status == "pending") ++a.pending;
  }
  std::string python = std::to_string(q.major) + "." + std::to_string(q.minor);
  bool contains = true;
  std::string err;
  if (!row.requires_python.empty() &&
      SpecifierContains(row.requires_python, python, &contains, &err) && !contains)
    unsupported = true;
  if (working) {
    a.answer = "yes";
    a.deciding = working;
  } else if (failing) {
    a.answer = "no";
    a.deciding = failing;
  } else if (unsupported) {
    a.answer = "unsupported";
  } else {
    a.answer = "unknown";
  }
  return a;
}

}  // namespace

bool ParseCompatQuestion(const std::string& os, const std::string& python,
                         const std::string& implementation, const std::string& version,
                         CompatQuestion* q, std::string* err) {
  if (os != "linux" && os != "windows" && os != "macos") {
    *err = "os must be one of linux, windows, macos (got '" + os + "')";
    return false;
  }
  size_t dot = python.find('.');
  auto digits = [](const std::string& s) {
    return !s.empty() && s.size() <= 3 && std::all_of(s.begin(), s.end(), ::isdigit);
  };
  if (dot == std::string::npos || !digits(python.substr(0, dot)) || !digits(python.substr(dot + 1))) {
    *err = "python must be a version X.Y such as 3.11 or 2.7 (got '" + python + "')";
    return false;
  }
  q->os = os;
  q->major = std::stoi(python.substr(0, dot));
  q->minor = std::stoi(python.substr(dot + 1));
  if (implementation.empty() || implementation == "cpython" || implementation == "cp") {
    q->implementation = "cp";
  } else if (implementation == "pypy" || implementation == "pp") {
    q->implementation = "pp";
  } else {
    *err = "implementation must be cpython or pypy (got '" + implementation + "')";
    return false;
  }
  q->version = version;
  return true;
}

bool AnswerCompat(const Matrix& m, const CompatQuestion& q, CompatAnswer* out, std::string* err) {
  const MatrixRow* row = nullptr;
  if (!q.version.empty()) {
    for (const auto& r : m.rows)
      if (r.version == q.version) row = &r;
    if (!row) {
      *err = m.project + " has no version " + q.version + " on the index";
      return false;
    }
  } else if (!m.rows.empty()) {
    row = &m.rows.front();
  }
  for (const auto& r : m.rows) {
    if (AnswerRow(r, q).answer == "yes") {
      out->newest_working_version = r.version;
      break;
    }
  }
  std::string where = std::string(q.implementation == "pp" ? "PyPy " : "CPython ") +
                      std::to_string(q.major) + "." + std::to_string(q.minor) + " on " + q.os;
  std::string python = std::to_string(q.major) + "." + std::to_string(q.minor);
  std::string newest_clause;
  if (!row) {
    out->answer = "unknown";
    out->sentence = "Unknown: " + m.project + " has no release Corral knows of yet.";
    return true;
  }
  out->version = row->version;
  RowAnswer a = AnswerRow(*row, q);
  out->answer = a.answer;
  out->evidence = a.evidence;
  if (!out->newest_working_version.empty() && out->newest_working_version != row->version)
    newest_clause = " The newest version that works there is " + out->newest_working_version + ".";
  std::string name = m.project + " " + row->version;
  auto agreed = [](const MatrixCell* c) {
    return " (" + std::to_string(c->agreeing) + " volunteers agreed)";
  };
  if (a.answer == "yes") {
    if (a.deciding->status == "passed")
      out->sentence = "Yes: " + name + " passes its tests with " + where + agreed(a.deciding) + ".";
    else
      out->sentence = "Yes: " + name + " builds, installs and imports with " + where +
                      "; it has no test suite to run" + agreed(a.deciding) + ".";
  } else if (a.answer == "no") {
    out->sentence = "No: " + name + " fails with " + where + ": " + Words(a.deciding->status) +
                    (a.deciding->summary.empty() ? "" : " (" + a.deciding->summary + ")") +
                    agreed(a.deciding) + "." + newest_clause;
  } else if (a.answer == "unsupported") {
    out->sentence = "No: " + name + " declares Requires-Python " + row->requires_python +
                    ", which excludes Python " + python + "." + newest_clause;
  } else {
    out->sentence = "Unknown: no verdict yet for " + name + " with " + where +
                    (a.pending ? " (its task is waiting for volunteers)"
                               : a.evidence.empty() ? " (no volunteer offers that platform yet)"
                                                    : " (its replicas did not agree)") +
                    "." + newest_clause;
  }
  return true;
}

}  // namespace corral::coordinator
