#include "coordinator/stats_export.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "common/archive_error.h"
#include "common/protocol.h"
#include "common/crypto.h"
#include "common/fs_util.h"
#include "common/platform.h"
#include "coordinator/credit.h"
#include "coordinator/records.h"
#include "coordinator/store.h"

namespace corral::coordinator {
namespace {

constexpr char kXmlDeclaration[] = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n";

// XML text in pure ASCII: markup characters escaped, control characters
// dropped, every other code point as a character reference (valid whatever
// the declared encoding), an invalid UTF-8 byte as '?'.
std::string XmlAscii(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default:
          if (c >= 0x20 && c != 0x7F) out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    size_t len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
    uint32_t cp = len == 4 ? c & 0x07 : len == 3 ? c & 0x0F : c & 0x1F;
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      ok = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3F);
    }
    ok = ok && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) &&
         cp >= (len == 2 ? 0x80u : len == 3 ? 0x800u : 0x10000u);
    if (!ok) {
      out.push_back('?');
      ++i;
      continue;
    }
    char buf[16];
    std::snprintf(buf, sizeof buf, "&#x%X;", cp);
    out += buf;
    i += len;
  }
  return out;
}

std::string F(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%f", x);
  return buf;
}

// A cross-project id: 32 hex digits, like BOINC's md5-based ones.
std::string Cpid(const std::string& kind, const std::string& key) {
  return Sha256Hex("corral-" + kind + "-cpid:" + key).substr(0, 32);
}

std::string OsName(const std::vector<std::string>& tags) {
  for (const auto& tag : tags) {
    PlatformTag t;
    std::string err;
    if (!ParsePlatformTag(tag, &t, &err)) continue;
    if (t.os == "linux") return "Linux";
    if (t.os == "windows") return "Microsoft Windows";
    if (t.os == "macos") return "Darwin";
    return t.os;
  }
  return "";
}

struct Account {
  AccountRecord rec;
  int64_t id = 0;
  double credit = 0, rac = 0;
};

// libarchive write callback: appends to a std::string.
la_ssize_t AppendToString(struct archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

}  // namespace

StatsExport BuildStatsExport(const Store& store, int64_t now) {
  StatsExport out;
  std::vector<Account> accounts;
  store.Scan(Cf::kAccounts, "", "", [&](std::string_view, std::string_view value) {
    Account a;
    if (FromJson(ParseJsonOrDiscarded(value), &a.rec)) accounts.push_back(std::move(a));
    return true;
  });
  std::vector<VolunteerRecord> volunteers;
  store.Scan(Cf::kVolunteers, "", "", [&](std::string_view, std::string_view value) {
    VolunteerRecord v;
    if (FromJson(ParseJsonOrDiscarded(value), &v)) volunteers.push_back(std::move(v));
    return true;
  });
  // Ids by creation time, then key: stable from one export to the next.
  std::sort(accounts.begin(), accounts.end(), [](const Account& a, const Account& b) {
    return std::tie(a.rec.created_at, a.rec.account_key) < std::tie(b.rec.created_at, b.rec.account_key);
  });
  std::sort(volunteers.begin(), volunteers.end(), [](const VolunteerRecord& a, const VolunteerRecord& b) {
    return std::tie(a.enrolled_at, a.volunteer_id) < std::tie(b.enrolled_at, b.volunteer_id);
  });
  std::map<std::string, Account*> by_key;
  for (size_t i = 0; i < accounts.size(); ++i) {
    accounts[i].id = static_cast<int64_t>(i + 1);
    by_key[accounts[i].rec.account_key] = &accounts[i];
  }

  std::string hosts;
  for (size_t i = 0; i < volunteers.size(); ++i) {
    const VolunteerRecord& v = volunteers[i];
    double rac = RecentAverageCredit(v.decayed_credit, v.decayed_at, now);
    auto owner = by_key.find(v.account);
    if (owner != by_key.end()) {
      owner->second->credit += v.credit;
      owner->second->rac += rac;
    }
    if (!(v.credit > 0)) continue;
    ++out.hosts;
    hosts += "<host>\n";
    hosts += "    <id>" + std::to_string(i + 1) + "</id>\n";
    if (owner != by_key.end()) hosts += "    <userid>" + std::to_string(owner->second->id) + "</userid>\n";
    hosts += "    <total_credit>" + F(v.credit) + "</total_credit>\n";
    hosts += "    <expavg_credit>" + F(rac) + "</expavg_credit>\n";
    hosts += "    <expavg_time>" + F(static_cast<double>(now)) + "</expavg_time>\n";
    hosts += "    <p_vendor></p_vendor>\n";
    hosts += "    <p_model>" + XmlAscii(v.name) + "</p_model>\n";
    hosts += "    <os_name>" + XmlAscii(OsName(v.platforms)) + "</os_name>\n";
    hosts += "    <os_version></os_version>\n";
    hosts += "  <create_time>" + std::to_string(v.enrolled_at) + "</create_time>\n";
    hosts += "  <rpc_time>" + std::to_string(v.decayed_at) + "</rpc_time>\n";
    hosts += "  <timezone>0</timezone>\n";
    for (const char* zero : {"ncpus"}) hosts += std::string("  <") + zero + ">0</" + zero + ">\n";
    for (const char* zero : {"p_fpops", "p_iops", "p_membw", "m_nbytes", "m_cache", "m_swap", "d_total",
                             "d_free", "n_bwup", "n_bwdown", "avg_turnaround", "credit_per_cpu_sec"})
      hosts += std::string("  <") + zero + ">" + F(0) + "</" + zero + ">\n";
    hosts += "  <host_cpid>" + Cpid("host", v.volunteer_id) + "</host_cpid>\n";
    hosts += "</host>\n";
  }

  std::string users;
  for (const Account& a : accounts) {
    if (!(a.credit > 0)) continue;
    ++out.users;
    out.total_credit += a.credit;
    users += "<user>\n";
    users += " <id>" + std::to_string(a.id) + "</id>\n";
    users += " <name>" + XmlAscii(a.rec.name.empty() ? a.rec.account_key.substr(0, 16) : a.rec.name) +
             "</name>\n";
    users += " <create_time>" + std::to_string(a.rec.created_at) + "</create_time>\n";
    users += " <total_credit>" + F(a.credit) + "</total_credit>\n";
    users += " <expavg_credit>" + F(a.rac) + "</expavg_credit>\n";
    users += " <expavg_time>" + F(static_cast<double>(now)) + "</expavg_time>\n";
    users += " <cpid>" + Cpid("user", a.rec.account_key) + "</cpid>\n";
    users += "</user>\n";
  }

  out.user_xml = std::string(kXmlDeclaration) + "<users>\n" + users + "</users>\n";
  out.host_xml = std::string(kXmlDeclaration) + "<hosts>\n" + hosts + "</hosts>\n";
  out.team_xml = std::string(kXmlDeclaration) + "<teams>\n</teams>\n";
  std::string t = std::string(kXmlDeclaration) + "<tables>\n";
  t += "    <update_time>" + std::to_string(now) + "</update_time>\n";
  t += "    <nusers_total>" + std::to_string(out.users) + "</nusers_total>\n";
  t += "    <nteams_total>0</nteams_total>\n";
  t += "    <nhosts_total>" + std::to_string(out.hosts) + "</nhosts_total>\n";
  t += "    <total_credit>" + F(out.total_credit) + "</total_credit>\n";
  t += "    <applications>\n        <application>\n            <name>Build and test PyPI packages</name>\n"
       "        </application>\n    </applications>\n";
  t += "    <badges>\n    </badges>\n";
  t += "</tables>\n";
  out.tables_xml = std::move(t);
  return out;
}

bool Gzip(std::string_view data, std::string* out, std::string* err) {
  std::unique_ptr<struct archive, int (*)(struct archive*)> a(archive_write_new(), archive_write_free);
  std::unique_ptr<struct archive_entry, void (*)(struct archive_entry*)> e(archive_entry_new(),
                                                                            archive_entry_free);
  out->clear();
  auto fail = [&](const char* what) {
    *err = std::string("gzip: ") + what + ": " +
           ArchiveError(a.get());
    return false;
  };
  if (archive_write_add_filter_gzip(a.get()) != ARCHIVE_OK) return fail("gzip filter");
  if (archive_write_set_format_raw(a.get()) != ARCHIVE_OK) return fail("raw format");
  if (archive_write_set_options(a.get(), "gzip:!timestamp") != ARCHIVE_OK) return fail("options");
  archive_write_set_bytes_per_block(a.get(), 0);  // no padding to a block size
  if (archive_write_open(a.get(), out, nullptr, AppendToString, nullptr) != ARCHIVE_OK) return fail("open");
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) return fail("header");
  size_t done = 0;
  while (done < data.size()) {
    la_ssize_t n = archive_write_data(a.get(), data.data() + done, data.size() - done);
    if (n <= 0) return fail("write");
    done += static_cast<size_t>(n);
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return fail("close");
  return true;
}

bool WriteStatsExport(const StatsExport& stats, const std::filesystem::path& dir, std::string* err) {
  if (!EnsureDir(dir, err)) return false;
  for (const auto& [name, xml] : {std::pair<const char*, const std::string*>{"user.gz", &stats.user_xml},
                                  {"team.gz", &stats.team_xml},
                                  {"host.gz", &stats.host_xml}}) {
    std::string gz;
    if (!Gzip(*xml, &gz, err)) {
      *err = "compressing " + (dir / name).string() + ": " + *err;
      return false;
    }
    if (!WriteFileAtomic(dir / name, gz, err)) return false;
  }
  return WriteFileAtomic(dir / "tables.xml", stats.tables_xml, err);
}

int RunExportStats(const std::filesystem::path& out_dir, const std::filesystem::path& data_dir) {
  Store store;
  std::string err;
  if (!store.OpenReadOnly(data_dir / "db", &err)) {
    std::fprintf(stderr, "corral export-stats: %s\n(--data is the coordinator's data folder, the one "
                         "given to corral serve --data)\n",
                 err.c_str());
    return 2;
  }
  StatsExport stats = BuildStatsExport(store, NowSeconds());
  if (!WriteStatsExport(stats, out_dir, &err)) {
    std::fprintf(stderr, "corral export-stats: %s\n", err.c_str());
    return 2;
  }
  std::printf("wrote %s/{tables.xml,user.gz,team.gz,host.gz}: %lld users, 0 teams, %lld hosts, "
              "%.1f total credit\n",
              out_dir.c_str(), static_cast<long long>(stats.users), static_cast<long long>(stats.hosts),
              stats.total_credit);
  return 0;
}

}  // namespace corral::coordinator
