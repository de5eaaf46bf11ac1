// Statistics export in the shape BOINC statistics sites already read
// (DESIGN.md section 6; BOINC's db_dump): a folder with tables.xml (totals
// and update time) and user.gz, team.gz, host.gz (gzipped XML lists), as
// served under a BOINC project's /stats/ URL.
//
// Corral's vocabulary maps onto BOINC's: an account is a user, a volunteer
// (one machine key) is a host of its account, and there are no teams yet (an
// empty but valid teams list). Numeric ids are ranks by creation time (then
// key), so they stay the same from one export to the next; cross-project ids
// ("cpid", "host_cpid") are 32 hex digits derived from the public keys. As in
// db_dump, only users and hosts with credit are listed. Credit is Corral's
// (seconds of verified work), recent average credit the 7-day-half-life
// average per day (credit.h) as of the export.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace corral::coordinator {

class Store;

// The four documents, uncompressed.
struct StatsExport {
  std::string tables_xml;  // <tables>: update_time, n*_total, total_credit, applications
  std::string user_xml;    // <users><user>...
  std::string team_xml;    // <teams></teams>
  std::string host_xml;    // <hosts><host>...
  int64_t users = 0, hosts = 0;
  double total_credit = 0;
};

// Reads every account and volunteer of `store` (a full scan of both
// families) and renders the documents as of `now`. Texts are pure ASCII
// (anything else as XML character references) under the iso-8859-1
// declaration db_dump writes.
StatsExport BuildStatsExport(const Store& store, int64_t now);

// `data` gzipped (RFC 1952, no file name, no timestamp). False with *err.
bool Gzip(std::string_view data, std::string* out, std::string* err);

// Writes tables.xml, user.gz, team.gz and host.gz into `dir` (created when
// missing), each to a temporary name first and then renamed, so that a
// statistics site never downloads half a file. False with *err naming the
// file.
bool WriteStatsExport(const StatsExport& stats, const std::filesystem::path& dir, std::string* err);

// `corral export-stats DIR --data DATA`: opens the coordinator store under
// DATA/db read-only (works while the coordinator runs), writes the export
// into DIR and says what it wrote. Exit code 0, or 2 with the reason on
// stderr.
int RunExportStats(const std::filesystem::path& out_dir, const std::filesystem::path& data_dir);

}  // namespace corral::coordinator
