// The leaderboard's documents over a real store: day, week and all-time
// windows from the credit log, recent average credit, suspended cheaters
// last and marked, bounties, account and volunteer pages; and the BOINC
// statistics export (gunzipped and parsed back), also read from a store a
// running coordinator holds open.
#include <archive.h>
#include <archive_entry.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <pugixml.hpp>
#include <string>

#include "common/crypto.h"
#include "common/fs_util.h"
#include "coordinator/credit.h"
#include "coordinator/records.h"
#include "coordinator/stats_export.h"
#include "coordinator/store.h"
#include "coordinator/views.h"
#include "leaderboard/site.h"
#include "tests/coordinator/coordinator_test_support.h"

namespace corral {
namespace {

using json = nlohmann::json;
using namespace corral::coordinator;

constexpr int64_t kNow = 1'700'000'000;
constexpr int64_t kDay = 86400;

// Accounts and machines written the way the engine writes them.
struct Network {
  explicit Network(const std::filesystem::path& dir) {
    std::filesystem::create_directories(dir);
    std::string err;
    REQUIRE(store.Open(dir, &err));
  }
  void Account(const std::string& key, const std::string& name, int64_t created, bool suspended = false) {
    AccountRecord a;
    a.account_key = key;
    a.name = name;
    a.created_at = created;
    a.suspended = suspended;
    if (suspended) a.suspended_reason = "a machine contradicted settled verdicts";
    accounts[key] = a;
  }
  VolunteerRecord& Machine(const std::string& id, const std::string& account, const std::string& name,
                           int64_t enrolled) {
    VolunteerRecord& v = volunteers[id];
    v.volunteer_id = id;
    v.account = account;
    v.name = name;
    v.enrolled_at = enrolled;
    v.platforms = {"cp311-linux_x86_64", "pp39-linux_x86_64"};
    accounts[account].machines.push_back(id);
    return v;
  }
  // One verified result worth `credit`, granted at `t`.
  void Grant(const std::string& id, double credit, int64_t t) {
    VolunteerRecord& v = volunteers.at(id);
    ++v.verified_results;
    v.credit += credit;
    v.decayed_credit = DecayCredit(v.decayed_credit, v.decayed_at, t) + credit;
    v.decayed_at = t;
    std::string task = "task-" + std::to_string(++tasks);
    CreditEntry c{id, v.account, task, credit, t};
    log.emplace_back(Key({OrderedHex(static_cast<uint64_t>(t)), task, id}), json(c));
  }
  void Save() {
    WriteSet w;
    for (auto& [key, a] : accounts) w.PutJson(Cf::kAccounts, key, json(a));
    for (auto& [id, v] : volunteers) w.PutJson(Cf::kVolunteers, id, json(v));
    for (auto& [key, c] : log) w.PutJson(Cf::kCreditLog, key, c);
    std::string err;
    REQUIRE(store.Write(w, true, &err));
  }
  Store store;
  std::map<std::string, AccountRecord> accounts;
  std::map<std::string, VolunteerRecord> volunteers;
  std::vector<std::pair<std::string, json>> log;
  int tasks = 0;
};

// alice (2 machines) and bob (1) earn credit at different times; mallory's
// machine was caught lying: suspended, its credit clawed back; alice's
// laptop exposed it and earned a bounty.
void Populate(Network& n) {
  n.Account("acct-alice", "alice", kNow - 30 * kDay);
  n.Account("acct-bob", "bob", kNow - 20 * kDay);
  n.Account("acct-mallory", "mallory", kNow - 10 * kDay, true);
  n.Machine("m-laptop", "acct-alice", "alice-laptop", kNow - 30 * kDay);
  n.Machine("m-desk", "acct-alice", "alice-desk", kNow - 29 * kDay);
  n.Machine("m-bob", "acct-bob", "bob-box", kNow - 20 * kDay);
  VolunteerRecord& evil = n.Machine("m-evil", "acct-mallory", "mallory-bot", kNow - 10 * kDay);
  n.Grant("m-laptop", 100, kNow - 20 * kDay);  // all time only
  n.Grant("m-laptop", 10, kNow - 3 * kDay);    // week
  n.Grant("m-desk", 30, kNow - 2 * kDay);      // week
  n.Grant("m-bob", 50, kNow - 25 * kDay);      // all time only
  n.Grant("m-bob", 20, kNow - 3600);           // day
  n.Grant("m-bob", 25, kNow - 7200);           // day
  n.Grant("m-evil", 500, kNow - 5 * kDay);
  evil.suspended = true;
  evil.suspended_reason = "contradicted 3 settled verdicts";
  evil.suspended_at = kNow - kDay;
  evil.clawed_back = 500;
  evil.credit = 0;
  evil.decayed_credit = 0;
  n.volunteers["m-laptop"].cheaters_exposed = 1;
  n.volunteers["m-laptop"].bounty = 25;
  n.Save();
}

std::vector<std::string> Names(const json& rows, const char* key = "name") {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.value(key, "?"));
  return out;
}

TEST_CASE("Leaderboard windows: day, week and all time from the credit log; cheaters last") {
  testing::TempDir dir;
  Network n(dir.path / "db");
  Populate(n);

  json all = LeaderboardJson(n.store, "all", kNow);
  CHECK(Names(all["volunteers"]) ==
        std::vector<std::string>{"alice-laptop", "bob-box", "alice-desk", "mallory-bot"});
  CHECK(all["volunteers"][0]["credit"] == 110.0);
  CHECK(all["volunteers"][0]["verified_results"] == 2);
  CHECK(all["volunteers"][0]["rank"] == 1);
  CHECK(all["volunteers"][0]["cheaters_exposed"] == 1);
  CHECK(all["volunteers"][0]["bounty"] == 25.0);
  CHECK(all["volunteers"][0]["account_name"] == "alice");
  CHECK(all["volunteers"][3]["rank"].is_null());
  CHECK(all["volunteers"][3]["suspended"] == true);
  CHECK(Names(all["accounts"]) == std::vector<std::string>{"alice", "bob", "mallory"});
  CHECK(all["accounts"][0]["machines"] == 2);
  CHECK(all["accounts"][0]["credit"] == 140.0);
  CHECK(all["accounts"][2]["suspended"] == true);
  CHECK(all["accounts"][2]["rank"].is_null());
  REQUIRE(all["cheaters"].size() == 1);
  CHECK(all["cheaters"][0]["name"] == "mallory-bot");
  CHECK(all["cheaters"][0]["clawed_back"] == 500.0);
  CHECK(all["cheaters"][0]["suspended_reason"] == "contradicted 3 settled verdicts");
  CHECK(all["totals"]["cheaters_exposed"] == 1);

  json week = LeaderboardJson(n.store, "week", kNow);
  CHECK(Names(week["volunteers"]) ==
        std::vector<std::string>{"bob-box", "alice-desk", "alice-laptop", "mallory-bot"});
  CHECK(week["volunteers"][0]["credit"] == 45.0);
  CHECK(week["volunteers"][0]["verified_results"] == 2);
  CHECK(week["volunteers"][2]["credit"] == 10.0);
  CHECK(Names(week["accounts"]) == std::vector<std::string>{"bob", "alice", "mallory"});
  CHECK(week["accounts"][1]["credit"] == 40.0);

  json day = LeaderboardJson(n.store, "day", kNow);
  CHECK(day["volunteers"][0]["name"] == "bob-box");
  CHECK(day["volunteers"][0]["credit"] == 45.0);
  // A cheater's clawed-back grants count in no window.
  CHECK(week["volunteers"][3]["credit"] == 0.0);
  CHECK(week["accounts"][2]["credit"] == 0.0);
  CHECK(day["volunteers"][1]["credit"] == 0.0);
  CHECK(day["volunteers"][1]["verified_results"] == 0);

  // Recent average credit: alice's laptop earned 10 three days ago on top of
  // 100 twenty days ago; a 7-day half-life weighs them accordingly.
  double expected = (100 * std::exp2(-20.0 / 7) + 10 * std::exp2(-3.0 / 7)) * std::log(2.0) / 7;
  CHECK(all["volunteers"][0]["recent_average_credit"].get<double>() == Approx(expected).epsilon(1e-9));

  // The page: ranks as given, "-" for the suspended, marked; the cheaters table.
  std::string html = site::RenderLeaderboard(all);
  pugi::xml_document doc;
  REQUIRE(doc.load_string(html.c_str()));
  auto rows = doc.select_nodes("//table[@class='volunteers']/tbody/tr");
  REQUIRE(rows.size() == 4);
  CHECK(std::string(rows[3].node().attribute("class").value()) == "is-suspended");
  CHECK(std::string(rows[3].node().select_node("td[1]").node().child_value()) == "-");
  CHECK(rows[3].node().select_node("td[2]/span[@class='suspended']"));
  CHECK_FALSE(rows[0].node().select_node("td[2]/span[@class='suspended']"));
  CHECK(std::string(rows[0].node().select_node("td[3]/a").node().attribute("href").value()) ==
        "/accounts/acct-alice");
  CHECK(std::string(rows[0].node().select_node("td[7]").node().child_value()) == "1");
  CHECK(doc.select_node("//table[@class='cheaters']/tbody/tr/td[5][text()='500.0']"));
  CHECK(doc.select_node("//a[@href='/stats/user.gz']"));
}

TEST_CASE("Account and volunteer pages: totals, machines, suspension and bounty") {
  testing::TempDir dir;
  Network n(dir.path / "db");
  Populate(n);
  json alice;
  REQUIRE(AccountJson(n.store, "acct-alice", kNow, &alice));
  CHECK(alice["name"] == "alice");
  CHECK(alice["credit"] == 140.0);
  CHECK(alice["verified_results"] == 3);
  CHECK(alice["bounty"] == 25.0);
  CHECK(alice["suspended"] == false);
  CHECK(Names(alice["machines"]) == std::vector<std::string>{"alice-laptop", "alice-desk"});
  json mallory;
  REQUIRE(AccountJson(n.store, "acct-mallory", kNow, &mallory));
  CHECK(mallory["suspended"] == true);
  CHECK(mallory["clawed_back"] == 500.0);
  json none;
  CHECK_FALSE(AccountJson(n.store, "acct-nobody", kNow, &none));

  pugi::xml_document page;
  std::string html = site::RenderAccount(mallory);
  REQUIRE(page.load_string(html.c_str()));
  CHECK(page.select_node("//h1/span[@class='suspended']"));
  CHECK(page.select_node("//p[@class='banner']"));
  CHECK(page.select_node("//table[@class='machines']//a[@href='/volunteers/m-evil']"));

  json evil;
  REQUIRE(VolunteerJson(n.store, "m-evil", kNow, &evil));
  CHECK(evil["suspended"] == true);
  CHECK(evil["suspended_at"] == kNow - kDay);
  CHECK(evil["account_name"] == "mallory");
  pugi::xml_document vpage;
  std::string vhtml = site::RenderVolunteer(evil);
  REQUIRE(vpage.load_string(vhtml.c_str()));
  std::string banner = vpage.select_node("//p[@class='banner']").node().child_value();
  CHECK(banner.find("contradicted 3 settled verdicts") != std::string::npos);
  CHECK(banner.find("500.0") != std::string::npos);
  CHECK(vpage.select_node("//a[@href='/accounts/acct-mallory']"));
  json laptop;
  REQUIRE(VolunteerJson(n.store, "m-laptop", kNow, &laptop));
  CHECK(laptop["cheaters_exposed"] == 1);
  CHECK(laptop["bounty"] == 25.0);
  CHECK(laptop["suspended_reason"].is_null());
  pugi::xml_document lpage;
  std::string lhtml = site::RenderVolunteer(laptop);
  REQUIRE(lpage.load_string(lhtml.c_str()));
  CHECK(lpage.select_nodes("//p[@class='banner']").empty());
}

// Gunzips with libarchive (as a stats site would with gzip).
std::string Gunzip(const std::string& gz) {
  struct archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_raw(a);
  REQUIRE(archive_read_open_memory(a, gz.data(), gz.size()) == ARCHIVE_OK);
  struct archive_entry* e = nullptr;
  REQUIRE(archive_read_next_header(a, &e) == ARCHIVE_OK);
  std::string out;
  char buf[8192];
  la_ssize_t n;
  while ((n = archive_read_data(a, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  CHECK(n == 0);
  archive_read_free(a);
  return out;
}

TEST_CASE("BOINC statistics: users, hosts and an empty teams list, gzipped, in db_dump's shape") {
  testing::TempDir dir;
  Network n(dir.path / "db");
  Populate(n);
  // A name outside ASCII, as a character reference under db_dump's declaration.
  n.volunteers["m-desk"].name = "alice-b\xC3\xBCro";
  n.Save();
  StatsExport s = BuildStatsExport(n.store, kNow);
  CHECK(s.users == 2);  // mallory's credit was clawed back to 0: not listed, as in db_dump
  CHECK(s.hosts == 3);
  CHECK(s.total_credit == Approx(235));

  std::string gz;
  std::string err;
  REQUIRE(Gzip(s.user_xml, &gz, &err));
  CHECK(gz.compare(0, 2, "\x1f\x8b") == 0);  // gzip magic
  CHECK(Gunzip(gz) == s.user_xml);

  REQUIRE(WriteStatsExport(s, dir.path / "stats", &err));
  std::string file;
  REQUIRE(ReadFile(dir.path / "stats" / "user.gz", &file, &err));
  pugi::xml_document users;
  std::string user_xml = Gunzip(file);
  CHECK(user_xml.rfind("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>", 0) == 0);
  for (unsigned char c : user_xml) CHECK(c < 0x80);
  REQUIRE(users.load_string(user_xml.c_str()));
  auto list = users.select_nodes("/users/user");
  REQUIRE(list.size() == 2);
  pugi::xml_node alice = users.select_node("/users/user[name='alice']").node();
  REQUIRE(alice);
  CHECK(alice.child("id").text().as_int() == 1);  // the oldest account
  CHECK(alice.child("total_credit").text().as_double() == Approx(140));
  CHECK(alice.child("create_time").text().as_llong() == kNow - 30 * kDay);
  CHECK(alice.child("expavg_time").text().as_double() == Approx(kNow));
  CHECK(std::string(alice.child_value("cpid")).size() == 32);
  pugi::xml_node bob = users.select_node("/users/user[name='bob']").node();
  CHECK(bob.child("id").text().as_int() == 2);

  REQUIRE(ReadFile(dir.path / "stats" / "host.gz", &file, &err));
  pugi::xml_document hosts;
  std::string host_xml = Gunzip(file);
  REQUIRE(hosts.load_string(host_xml.c_str()));
  auto hl = hosts.select_nodes("/hosts/host");
  REQUIRE(hl.size() == 3);
  for (auto h : hl) {
    for (const char* field : {"id", "userid", "total_credit", "expavg_credit", "expavg_time", "p_model",
                              "os_name", "create_time", "rpc_time", "host_cpid"}) {
      INFO(field);
      CHECK(h.node().child(field));
    }
  }
  pugi::xml_node desk = hosts.select_node("/hosts/host[id='2']").node();  // enrolled second
  CHECK(desk.child("userid").text().as_int() == 1);                      // alice's
  CHECK(desk.child("total_credit").text().as_double() == Approx(30));
  CHECK(std::string(desk.child_value("p_model")) == "alice-b\xC3\xBCro");  // parsed back from &#xFC;
  CHECK(host_xml.find("&#xFC;") != std::string::npos);
  CHECK(std::string(desk.child_value("os_name")) == "Linux");

  REQUIRE(ReadFile(dir.path / "stats" / "team.gz", &file, &err));
  pugi::xml_document teams;
  REQUIRE(teams.load_string(Gunzip(file).c_str()));
  CHECK(teams.child("teams"));
  CHECK(teams.select_nodes("/teams/team").empty());

  REQUIRE(ReadFile(dir.path / "stats" / "tables.xml", &file, &err));
  pugi::xml_document tables;
  REQUIRE(tables.load_string(file.c_str()));
  CHECK(tables.select_node("/tables/update_time").node().text().as_llong() == kNow);
  CHECK(tables.select_node("/tables/nusers_total").node().text().as_int() == 2);
  CHECK(tables.select_node("/tables/nhosts_total").node().text().as_int() == 3);
  CHECK(tables.select_node("/tables/nteams_total").node().text().as_int() == 0);
  CHECK(tables.select_node("/tables/total_credit").node().text().as_double() == Approx(235));

  // Ids stay put when an account joins later.
  n.Account("acct-zoe", "zoe", kNow);
  n.Machine("m-zoe", "acct-zoe", "zoe-pc", kNow);
  n.Grant("m-zoe", 5, kNow);
  n.Save();
  pugi::xml_document again;
  StatsExport s2 = BuildStatsExport(n.store, kNow);
  REQUIRE(again.load_string(s2.user_xml.c_str()));
  CHECK(again.select_node("/users/user[name='alice']/id").node().text().as_int() == 1);
  CHECK(again.select_node("/users/user[name='zoe']/id").node().text().as_int() == 4);
}

TEST_CASE("corral export-stats reads the store while its coordinator holds it open") {
  testing::TempDir dir;
  Network n(dir.path / "data" / "db");  // stays open, as `corral serve` keeps it
  Populate(n);
  CHECK(RunExportStats(dir.path / "out", dir.path / "data") == 0);
  std::string file, err;
  REQUIRE(ReadFile(dir.path / "out" / "host.gz", &file, &err));
  pugi::xml_document hosts;
  REQUIRE(hosts.load_string(Gunzip(file).c_str()));
  CHECK(hosts.select_nodes("/hosts/host").size() == 3);
  CHECK(RunExportStats(dir.path / "out2", dir.path / "no-such-data") == 2);

  // The same documents over HTTP.
  using namespace corral::testing;
  TestIndex index;
  TestCoordinator tc(index, {"cp311-linux_x86_64"});
  auto v = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "solo", "solo-pc",
                         {"cp311-linux_x86_64"});
  REQUIRE(Enrol(*tc.c, v, tc.now).status == 200);
  HttpResponse team = tc.c->Handle(Request("GET", "/stats/team.gz"));
  CHECK(team.status == 200);
  CHECK(team.content_type == "application/gzip");
  CHECK(Gunzip(team.body).find("<teams>") != std::string::npos);
  HttpResponse tables = tc.c->Handle(Request("GET", "/stats/tables.xml"));
  CHECK(tables.status == 200);
  CHECK(tables.body.find("<nhosts_total>0</nhosts_total>") != std::string::npos);  // no credit yet
  HttpResponse account = tc.c->Handle(Request("GET", "/accounts/" + v.account->public_hex()));
  CHECK(account.status == 200);
  CHECK(account.body.find("solo-pc") != std::string::npos);
  CHECK(tc.c->Handle(Request("GET", "/api/v1/accounts/" + v.account->public_hex())).status == 200);
  CHECK(tc.c->Handle(Request("GET", "/accounts/nobody")).status == 404);
  CHECK(Body(tc.c->Handle(Request("GET", "/api/v1/accounts/nobody")))["error"] == "unknown_account");
}

}  // namespace
}  // namespace corral
