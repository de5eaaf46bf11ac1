// Helpers for the wheel index tests: real wheels (zips written with
// libarchive) and a network of one project, one platform and two volunteers
// of different accounts who upload their builds by signed PUT and submit
// signed results through the coordinator's HTTP routes.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <catch2/catch.hpp>
#include <memory>

#include "common/fs_util.h"
#include "coordinator_test_support.h"
#include "sandbox/wheel_digest.h"

namespace corral::testing {

inline const std::string kWheelTag = "cp311-linux_x86_64";

// A wheel as a zip in memory: file name -> content.
inline std::string Zip(const std::vector<std::pair<std::string, std::string>>& files) {
  std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(), &archive_write_free);
  archive_write_set_format_zip(a.get());
  std::vector<char> buf(1 << 20);
  size_t used = 0;
  REQUIRE(archive_write_open_memory(a.get(), buf.data(), buf.size(), &used) == ARCHIVE_OK);
  for (const auto& [name, content] : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_entry_set_mtime(e, 1'700'000'000 + static_cast<time_t>(used), 0);
    REQUIRE(archive_write_header(a.get(), e) == ARCHIVE_OK);
    archive_write_data(a.get(), content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a.get());
  return std::string(buf.data(), used);
}

inline const std::string kWheelMetadata =
    "Metadata-Version: 2.1\nName: Demo.Pkg\nVersion: 1.0\nSummary: a demo\n"
    "Requires-Python: >=3.8,<4\n\nThe description.\nRequires-Python: not this\n";

inline std::string DemoWheel(const std::string& code = "X = 1\n", const std::string& metadata = kWheelMetadata) {
  return Zip({{"demo_pkg/__init__.py", code},
              {"demo_pkg-1.0.dist-info/METADATA", metadata},
              {"demo_pkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
              {"demo_pkg-1.0.dist-info/RECORD", "demo_pkg/__init__.py,,\n"}});
}

inline std::string DigestOf(const std::string& wheel) {
  TempDir d;
  std::string err, digest;
  REQUIRE(WriteFileAtomic(d.path / "w.whl", wheel, &err));
  REQUIRE(sandbox::WheelContentDigest(d.path / "w.whl", &digest, &err));
  return digest;
}

// A network of one project (demo.pkg 1.0, an sdist) on one platform with
// volunteers of two accounts, and what each of them built.
struct WheelNetwork {
  WheelNetwork(std::function<void(coordinator::Options&)> configure = {})
      : tc(index_for_ctor(), {kWheelTag}, 900, configure) {
    REQUIRE(tc.Sync());
    auto acct1 = std::shared_ptr<SigningKey>(SigningKey::Generate());
    auto acct2 = std::shared_ptr<SigningKey>(SigningKey::Generate());
    alice = MakeVolunteer(acct1, "alice", "alice-box", {kWheelTag});
    bob = MakeVolunteer(acct2, "bob", "bob-box", {kWheelTag});
    REQUIRE(Enrol(*tc.c, alice, tc.now).status == 200);
    REQUIRE(Enrol(*tc.c, bob, tc.now).status == 200);
    auto a = Lease(*tc.c, alice, tc.now);
    auto b = Lease(*tc.c, bob, tc.now);
    REQUIRE(a.size() == 1);
    REQUIRE(b.size() == 1);
    alice_task = a[0];
    bob_task = b[0];
  }
  TestIndex& index_for_ctor() {
    index.SetProject("demo-pkg", {{"demo_pkg-1.0.tar.gz", "the sdist", ">=3.8"}});
    return index;
  }

  // Uploads `bytes` for `v`'s lease `lease_id`, named `sha` (default: their sha256).
  HttpResponse Upload(const TestVolunteer& v, const std::string& lease_id, const std::string& bytes,
                      std::string sha = "") {
    if (sha.empty()) sha = Sha256Hex(bytes);
    return tc.c->Handle(Signed(*v.machine, "PUT", "/api/v1/artifacts/" + sha + "?lease=" + lease_id, bytes, tc.now));
  }

  // Uploads `wheel` as `v`'s build and submits its result, claiming `digest`.
  HttpResponse Report(const TestVolunteer& v, const TaskSpec& t, const std::string& wheel,
                      const std::string& digest, Outcome outcome = Outcome::kPassed,
                      const std::string& filename = "demo_pkg-1.0-py3-none-any.whl") {
    REQUIRE(Upload(v, t.lease_id, wheel).status == 200);
    ResultPayload p = PayloadFor(t, v, outcome, 10, {}, digest);
    p.wheel_filename = filename;
    p.wheel_sha256 = Sha256Hex(wheel);
    return Submit(*tc.c, v, Envelope(p, *v.machine), tc.now);
  }

  HttpResponse Page(const std::string& target, const std::string& accept = "") {
    HttpRequest r = Request("GET", target);
    if (!accept.empty()) r.headers["accept"] = accept;
    return tc.c->Handle(r);
  }

  TestIndex index;
  TestCoordinator tc;
  TestVolunteer alice, bob;
  TaskSpec alice_task, bob_task;
};

inline const char* const kPipAccept =
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

}  // namespace corral::testing
