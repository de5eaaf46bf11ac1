#include "coordinator/compat.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>

#include "common/protocol.h"
#include "common/pep440.h"
#include "common/platform.h"
#include "common/outcome.h"
#include "coordinator/records.h"
#include "coordinator/store.h"

namespace corral::coordinator {

namespace {

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
    if (IsWorkingStatus(cell.status) && !working) working = &cell;
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

std::string AnswerWords(const std::string& answer) {
  if (answer == "yes") return "Yes";
  if (answer == "no") return "No";
  if (answer == "unsupported") return "Not supported by the package";
  return "Unknown";
}

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

bool LoadCompatMatrix(const Store& store, const std::string& name,
                      const std::vector<std::string>& platforms, const CompatQuestion& q,
                      Matrix* out) {
  nlohmann::json j;
  ProjectRecord p;
  if (!store.GetJson(Cf::kProjects, name, &j) || !FromJson(j, &p)) return false;
  out->project = p.name;
  out->display_name = p.display_name;
  out->summary = p.summary;
  out->platforms.clear();
  for (const auto& tag : platforms) {
    PlatformTag t;
    std::string err;
    if (ParsePlatformTag(tag, &t, &err) && t.os == q.os && t.major == q.major && t.minor == q.minor &&
        t.implementation == q.implementation)
      out->platforms.push_back(tag);
  }
  // Rows by version, in PEP 440 order (each version parsed once), with the
  // tasks of the matching platforms.
  struct Row {
    bool parsed = false;
    Version v;
    MatrixRow row;
    std::vector<std::pair<std::string, std::string>> tasks;  // platform, task id
  };
  std::vector<Row> rows;
  std::unordered_map<std::string, size_t> by_version;
  auto row_of = [&](std::string_view version) -> Row& {
    auto it = by_version.find(std::string(version));
    if (it != by_version.end()) return rows[it->second];
    Row r;
    std::string err;
    r.parsed = ParseVersion(version, &r.v, &err);
    r.row.version = std::string(version);
    by_version.emplace(r.row.version, rows.size());
    rows.push_back(std::move(r));
    return rows.back();
  };
  for (const auto& v : p.versions) row_of(v);
  // Keys only: <project>\0<version>\0<platform>\0<task id>.
  const std::string prefix = Key({name, ""});
  store.Scan(Cf::kProjectTasks, prefix, "", [&](std::string_view key, std::string_view) {
    std::string_view rest = key.substr(prefix.size());
    size_t a = rest.find('\0');
    if (a == std::string_view::npos) return true;
    size_t b = rest.find('\0', a + 1);
    if (b == std::string_view::npos) return true;
    std::string_view version = rest.substr(0, a), tag = rest.substr(a + 1, b - a - 1);
    Row& row = row_of(version);
    for (const auto& t : out->platforms)
      if (t == tag) row.tasks.emplace_back(t, std::string(rest.substr(b + 1)));
    return true;
  });
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.parsed && b.parsed) return CompareVersions(b.v, a.v) < 0;  // newest first
    if (a.parsed != b.parsed) return a.parsed;                       // unparsable ones last
    return b.row.version < a.row.version;
  });
  // Verdicts newest first, until the answered row and a working one were
  // read: older rows cannot change the answer, and a project with thousands
  // of releases answers from a few reads.
  bool answered_read = false, working_read = false;
  for (Row& r : rows) {
    if (answered_read && working_read) break;
    for (const auto& [tag, task_id] : r.tasks) {
      MatrixCell cell;
      cell.task_id = task_id;
      VerdictRecord v;
      if (store.GetJson(Cf::kVerdicts, task_id, &j) && FromJson(j, &v)) {
        cell.status = v.status;
        cell.summary = v.summary;
        cell.agreeing = v.agreeing;
        cell.results = v.results;
        cell.decided_at = v.decided_at;
      } else {
        cell.status = "pending";
        cell.summary = "waiting for agreement";
      }
      working_read = working_read || IsWorkingStatus(cell.status);
      r.row.cells[tag] = std::move(cell);
    }
    answered_read = answered_read || q.version.empty() || r.row.version == q.version;
  }
  out->rows.clear();
  out->rows.reserve(rows.size());
  for (auto& r : rows) out->rows.push_back(std::move(r.row));
  // Requires-Python, the file and yanked of the row the answer is about.
  MatrixRow* answered = nullptr;
  for (auto& r : out->rows)
    if (q.version.empty() ? !answered : r.version == q.version) answered = &r;
  if (answered) {
    store.Scan(Cf::kFiles, Key({name, answered->version, ""}), "", [&](std::string_view, std::string_view value) {
      FileRecord f;
      if (!FromJson(ParseJsonOrDiscarded(value), &f)) return true;
      if (answered->filename.empty() || f.kind == "sdist") {
        answered->filename = f.filename;
        answered->requires_python = f.requires_python;
      }
      answered->yanked = answered->yanked || f.yanked;
      return true;
    });
  }
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
    RowAnswer ra = AnswerRow(r, q);
    if (ra.answer == "yes") {
      out->newest_working_version = r.version;
      if (&r != row) out->newest_working_evidence = std::move(ra.evidence);
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
