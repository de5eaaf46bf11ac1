// The download index (coordinator/wheel_index.h, simple_pages.h): through
// the real coordinator and its HTTP routes, volunteers with real keys
// upload real wheels (zips written here) by signed PUT and submit signed
// results; only a wheel whose content digest two accounts reproduced, and
// whose upload the coordinator verified itself, reaches /simple/.
#include <catch2/catch.hpp>

#include "common/http_client.h"
#include "coordinator/simple_html.h"
#include "coordinator/simple_pages.h"
#include "coordinator/store.h"
#include "coordinator/wheel_index.h"
#include "wheel_test_support.h"

using namespace corral;
using namespace corral::testing;



TEST_CASE("wheel index: a wheel two accounts reproduced is published with hashes and metadata",
          "[wheel_index]") {
  WheelNetwork n;
  std::string wheel = DemoWheel();
  std::string digest = DigestOf(wheel);
  // Bob's build differs only in zip timestamps and order: same content digest.
  std::string bob_wheel = Zip({{"demo_pkg-1.0.dist-info/RECORD", "other record\n"},
                               {"demo_pkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
                               {"demo_pkg-1.0.dist-info/METADATA", kWheelMetadata},
                               {"demo_pkg/__init__.py", "X = 1\n"}});
  REQUIRE(DigestOf(bob_wheel) == digest);
  REQUIRE(Sha256Hex(bob_wheel) != Sha256Hex(wheel));

  REQUIRE(n.Report(n.alice, n.alice_task, wheel, digest).status == 200);
  // One result is no verdict: nothing is listed yet.
  CHECK(n.Page("/simple/demo-pkg/").status == 404);
  REQUIRE(n.Report(n.bob, n.bob_task, bob_wheel, digest).status == 200);

  auto task = Get(*n.tc.c, "/api/v1/tasks/" + n.alice_task.task_id);
  REQUIRE(task["status"] == "passed");

  // The root lists the project under its normalised URL, in both forms.
  HttpResponse root = n.Page("/simple/");
  REQUIRE(root.status == 200);
  CHECK(root.content_type.rfind("text/html", 0) == 0);
  auto root_page = coordinator::ParseSimpleHtml(root.body);
  REQUIRE(root_page.anchors.size() == 1);
  CHECK(root_page.anchors[0].Attr("href") == "demo-pkg/");
  CHECK(root_page.anchors[0].text == "demo-pkg");
  CHECK(root_page.repository_version == "1.1");
  HttpResponse root_json = n.Page("/simple/", kPipAccept);
  CHECK(root_json.content_type == "application/vnd.pypi.simple.v1+json");
  CHECK(Body(root_json)["projects"][0]["name"] == "demo-pkg");
  CHECK(Body(root_json)["meta"]["api-version"] == "1.1");

  // PEP 503 HTML: the sha256 fragment, the escaped Requires-Python from
  // METADATA (its headers, not the description), PEP 658 and 714 attributes.
  HttpResponse html = n.Page("/simple/demo-pkg/", "text/html");
  REQUIRE(html.status == 200);
  CHECK(html.body.find("data-requires-python=\"&gt;=3.8,&lt;4\"") != std::string::npos);
  auto page = coordinator::ParseSimpleHtml(html.body);
  REQUIRE(page.anchors.size() == 1);
  const auto& a = page.anchors[0];
  CHECK(a.text == "demo_pkg-1.0-py3-none-any.whl");
  CHECK(a.Attr("data-requires-python") == ">=3.8,<4");
  std::string meta_sha = Sha256Hex(kWheelMetadata);
  CHECK(a.Attr("data-dist-info-metadata") == "sha256=" + meta_sha);
  CHECK(a.Attr("data-core-metadata") == "sha256=" + meta_sha);
  // Both uploads pass the checks; one of them is served, under its own hash.
  std::string href = a.Attr("href");
  std::string served = href.find(Sha256Hex(wheel)) != std::string::npos ? wheel : bob_wheel;
  std::string other = served == wheel ? bob_wheel : wheel;
  CHECK(href == "../../wheels/" + Sha256Hex(served) + "/demo_pkg-1.0-py3-none-any.whl#sha256=" +
                    Sha256Hex(served));

  // The wheel and its metadata at the link, resolved as pip resolves it.
  std::string url = UrlPathOf(ResolveUrl("http://h/simple/demo-pkg/", href.substr(0, href.find('#'))));
  CHECK(url == "/wheels/" + Sha256Hex(served) + "/demo_pkg-1.0-py3-none-any.whl");
  HttpResponse file = n.Page(url);
  REQUIRE(file.status == 200);
  CHECK(file.Content() == served);
  CHECK(file.content_type == "application/octet-stream");
  HttpResponse meta = n.Page(url + ".metadata");
  REQUIRE(meta.status == 200);
  CHECK(meta.Content() == kWheelMetadata);
  HttpRequest cached = Request("GET", url);
  cached.headers["if-none-match"] = "\"" + Sha256Hex(served) + "\"";
  CHECK(n.tc.c->Handle(cached).status == 304);
  // A wheel under another sha256 is not there, whatever is in the artifact store.
  CHECK(n.Page("/wheels/" + Sha256Hex(other) + "/demo_pkg-1.0-py3-none-any.whl").status == 404);

  // PEP 691 JSON for pip's Accept header.
  HttpResponse json = n.Page("/simple/demo-pkg/", kPipAccept);
  REQUIRE(json.status == 200);
  CHECK(json.content_type == "application/vnd.pypi.simple.v1+json");
  auto j = Body(json);
  CHECK(j["meta"]["api-version"] == "1.1");
  CHECK(j["name"] == "demo-pkg");
  CHECK(j["versions"] == nlohmann::json::array({"1.0"}));
  REQUIRE(j["files"].size() == 1);
  const auto& f = j["files"][0];
  CHECK(f["filename"] == "demo_pkg-1.0-py3-none-any.whl");
  CHECK(f["url"] == href.substr(0, href.find('#')));
  CHECK(f["hashes"]["sha256"] == Sha256Hex(served));
  CHECK(f["requires-python"] == ">=3.8,<4");
  CHECK(f["core-metadata"]["sha256"] == meta_sha);
  // Not PEP 691's older key: pip 23.0 crashes on it (PEP 714).
  CHECK_FALSE(f.contains("dist-info-metadata"));
  CHECK(f["size"] == served.size());
  CHECK(f["upload-time"].get<std::string>().size() == 27);
  CHECK(f["yanked"] == false);

  // Names that are not normalised redirect to the normalised page, as on PyPI.
  for (const char* t : {"/simple/Demo.Pkg/", "/simple/demo_pkg/", "/simple/demo-pkg", "/simple"}) {
    INFO(t);
    HttpResponse r = n.Page(t);
    CHECK(r.status == 301);
  }
  HttpResponse redirect = n.Page("/simple/Demo.Pkg/");
  bool has_location = false;
  for (const auto& [k, v] : redirect.headers)
    if (k == "Location") has_location = v == "/simple/demo-pkg/";
  CHECK(has_location);
  CHECK(n.Page("/simple/other/").status == 404);
  CHECK(n.Page("/simple/demo-pkg/", "application/json").status == 406);

  // Withdrawing the task's verdict takes the wheel off the index.
  coordinator::WriteSet w;
  auto touched = coordinator::UnpublishTasks(n.tc.c->store(), {n.alice_task.task_id}, &w);
  CHECK(touched == std::map<std::string, int>{{n.alice_task.task_id, 1}});
  // The coordinator only lends its store for reading; a reopening would
  // write this set with the verdict it withdraws.
  coordinator::Store& store = const_cast<coordinator::Store&>(n.tc.c->store());
  std::string err;
  REQUIRE(store.Write(w, true, &err));
  CHECK(n.Page("/simple/demo-pkg/").status == 404);
  CHECK(n.Page(url).status == 404);
}

TEST_CASE("wheel index: an upload whose content differs from the agreed digest is not published",
          "[wheel_index]") {
  WheelNetwork n;
  std::string honest = DemoWheel();
  std::string digest = DigestOf(honest);
  // Alice uploads different bytes (correctly named by their sha256) but
  // claims the digest both volunteers agree on.
  std::string tampered = DemoWheel("X = 1\nimport os; os.system('evil')\n");
  REQUIRE(DigestOf(tampered) != digest);

  SECTION("the other agreeing upload is checked and served instead") {
    REQUIRE(n.Report(n.alice, n.alice_task, tampered, digest).status == 200);
    REQUIRE(n.Report(n.bob, n.bob_task, honest, digest).status == 200);
    auto j = Body(n.Page("/simple/demo-pkg/", kPipAccept));
    REQUIRE(j["files"].size() == 1);
    CHECK(j["files"][0]["hashes"]["sha256"] == Sha256Hex(honest));
    CHECK(n.Page("/wheels/" + Sha256Hex(tampered) + "/demo_pkg-1.0-py3-none-any.whl").status == 404);
  }
  SECTION("no upload passes: nothing is published, though the verdict stands") {
    REQUIRE(n.Report(n.alice, n.alice_task, tampered, digest).status == 200);
    REQUIRE(n.Report(n.bob, n.bob_task, tampered, digest).status == 200);
    CHECK(Get(*n.tc.c, "/api/v1/tasks/" + n.alice_task.task_id)["status"] == "passed");
    CHECK(n.Page("/simple/demo-pkg/").status == 404);
    CHECK(Body(n.Page("/simple/", kPipAccept))["projects"].empty());
  }
  SECTION("an upload that never arrived is skipped") {
    REQUIRE(n.Report(n.alice, n.alice_task, honest, digest).status == 200);
    ResultPayload p = PayloadFor(n.bob_task, n.bob, Outcome::kPassed, 10, {}, digest);
    p.wheel_filename = "demo_pkg-1.0-py3-none-any.whl";
    p.wheel_sha256 = Sha256Hex("bytes bob never uploaded");
    REQUIRE(Submit(*n.tc.c, n.bob, Envelope(p, *n.bob.machine), n.tc.now).status == 200);
    auto j = Body(n.Page("/simple/demo-pkg/", kPipAccept));
    REQUIRE(j["files"].size() == 1);
    CHECK(j["files"][0]["hashes"]["sha256"] == Sha256Hex(honest));
  }
}

TEST_CASE("wheel index: bad file names, other projects and unimportable wheels are refused",
          "[wheel_index]") {
  WheelNetwork n;
  std::string wheel = DemoWheel();
  std::string digest = DigestOf(wheel);
  SECTION("a wheel named for another project") {
    REQUIRE(n.Report(n.alice, n.alice_task, wheel, digest, Outcome::kPassed, "other_pkg-1.0-py3-none-any.whl").status == 200);
    REQUIRE(n.Report(n.bob, n.bob_task, wheel, digest, Outcome::kPassed, "other_pkg-1.0-py3-none-any.whl").status == 200);
  }
  SECTION("a wheel of another version") {
    REQUIRE(n.Report(n.alice, n.alice_task, wheel, digest, Outcome::kPassed, "demo_pkg-2.0-py3-none-any.whl").status == 200);
    REQUIRE(n.Report(n.bob, n.bob_task, wheel, digest, Outcome::kPassed, "demo_pkg-2.0-py3-none-any.whl").status == 200);
  }
  SECTION("a name that is no wheel name") {
    REQUIRE(n.Report(n.alice, n.alice_task, wheel, digest, Outcome::kPassed, "../demo_pkg-1.0-py3-none-any.whl").status == 200);
    REQUIRE(n.Report(n.bob, n.bob_task, wheel, digest, Outcome::kPassed, "demo_pkg-1.0.whl").status == 200);
  }
  SECTION("METADATA naming another project") {
    std::string other = DemoWheel("X = 1\n", "Metadata-Version: 2.1\nName: other\nVersion: 1.0\n\n");
    std::string d = DigestOf(other);
    REQUIRE(n.Report(n.alice, n.alice_task, other, d).status == 200);
    REQUIRE(n.Report(n.bob, n.bob_task, other, d).status == 200);
  }
  SECTION("a verdict of import_failed") {
    REQUIRE(n.Report(n.alice, n.alice_task, wheel, digest, Outcome::kImportFailed).status == 200);
    REQUIRE(n.Report(n.bob, n.bob_task, wheel, digest, Outcome::kImportFailed).status == 200);
    CHECK(Get(*n.tc.c, "/api/v1/tasks/" + n.alice_task.task_id)["status"] == "import_failed");
  }
  CHECK(n.Page("/simple/demo-pkg/").status == 404);
  CHECK(Body(n.Page("/simple/", kPipAccept))["projects"].empty());
}

TEST_CASE("wheel index: uploads are signed, size-capped and checked against their name", "[wheel_index]") {
  WheelNetwork n([](coordinator::Options& o) { o.max_artifact_bytes = 1000; });
  std::string wheel = DemoWheel();
  HttpResponse unsigned_put = n.tc.c->Handle(Request("PUT", "/api/v1/artifacts/" + Sha256Hex(wheel), wheel));
  CHECK(unsigned_put.status == 401);
  std::string big(1001, 'x');
  HttpResponse too_big = n.Upload(n.alice, n.alice_task.lease_id, big);
  CHECK(too_big.status == 413);
  CHECK(Body(too_big)["error"] == "too_large");
  HttpResponse wrong = n.Upload(n.alice, n.alice_task.lease_id, "some bytes", Sha256Hex("other bytes"));
  CHECK(wrong.status == 422);
  CHECK(Body(wrong)["error"] == "wrong_input");
  CHECK(Body(wrong)["detail"].get<std::string>().find(Sha256Hex("some bytes")) != std::string::npos);
}

TEST_CASE("wheel index: the digest must come from two accounts among the agreeing results",
          "[wheel_index]") {
  auto vote = [](const std::string& account, const std::string& digest) {
    coordinator::Vote v;
    v.account = account;
    v.wheel_content_digest = digest;
    v.outcome = Outcome::kPassed;
    return v;
  };
  using coordinator::AgreedWheelDigest;
  CHECK(AgreedWheelDigest({vote("a", "d1"), vote("b", "d1")}, {0, 1}) == "d1");
  CHECK(AgreedWheelDigest({vote("a", "d1"), vote("a", "d1")}, {0, 1}).empty());  // one account
  CHECK(AgreedWheelDigest({vote("a", "d1"), vote("b", "")}, {0, 1}).empty());    // one built a wheel
  CHECK(AgreedWheelDigest({vote("a", "d1"), vote("b", "d1")}, {0}).empty());     // b did not agree
  CHECK(AgreedWheelDigest({vote("a", "d1"), vote("b", "d2"), vote("c", "d2")}, {0, 1, 2}) == "d2");
}

TEST_CASE("wheel index: PEP 427 file names", "[wheel_index]") {
  coordinator::WheelName w;
  std::string err;
  REQUIRE(coordinator::ParseWheelFilename("demo_pkg-1.0-py2.py3-none-any.whl", &w, &err));
  CHECK(w.distribution == "demo_pkg");
  CHECK(w.version == "1.0");
  CHECK(w.python == "py2.py3");
  REQUIRE(coordinator::ParseWheelFilename("numpy-1.26.4-1-cp312-cp312-manylinux_2_17_x86_64.whl", &w, &err));
  CHECK(w.build == "1");
  CHECK(w.platform == "manylinux_2_17_x86_64");
  for (const char* bad : {"demo-1.0-py3-none-any.zip", "demo-1.0-py3-none.whl", "demo-1.0-x-py3-none-any.whl",
                          "demo-notaversion!-py3-none-any.whl", "de/mo-1.0-py3-none-any.whl",
                          "-1.0-py3-none-any.whl", "demo-1.0-py3--any.whl", "demo-1.0-py3-none-any-x-y.whl"}) {
    INFO(bad);
    CHECK_FALSE(coordinator::ParseWheelFilename(bad, &w, &err));
    CHECK(err.find("not a valid wheel file name") != std::string::npos);
  }
}

TEST_CASE("wheel index: core metadata fields and Accept negotiation", "[wheel_index]") {
  using coordinator::MetadataField;
  std::string m = "Metadata-Version: 2.1\r\nname: x\r\nSummary: one\n  two\nRequires-Python:  >=3.7 \n\nRequires-Python: no\n";
  CHECK(MetadataField(m, "Name") == "x");
  CHECK(MetadataField(m, "summary") == "one\n  two");
  CHECK(MetadataField(m, "Requires-Python") == ">=3.7");
  CHECK(MetadataField(m, "License").empty());

  using coordinator::ChooseSimpleFormat;
  using coordinator::SimpleFormat;
  CHECK(ChooseSimpleFormat("", "") == SimpleFormat::kHtml);
  CHECK(ChooseSimpleFormat(kPipAccept, "") == SimpleFormat::kJson);
  CHECK(ChooseSimpleFormat("text/html", "") == SimpleFormat::kHtml);
  CHECK(ChooseSimpleFormat("*/*", "") == SimpleFormat::kHtml);
  CHECK(ChooseSimpleFormat("text/html,application/xhtml+xml,*/*;q=0.8", "") == SimpleFormat::kHtml);
  CHECK(ChooseSimpleFormat("application/vnd.pypi.simple.v1+html", "") == SimpleFormat::kVersionedHtml);
  CHECK(ChooseSimpleFormat("application/vnd.pypi.simple.latest+json", "") == SimpleFormat::kJson);
  CHECK(ChooseSimpleFormat("application/vnd.pypi.simple.v1+json;q=0.2, text/html", "") == SimpleFormat::kHtml);
  CHECK(ChooseSimpleFormat("application/json", "") == SimpleFormat::kNotAcceptable);
  CHECK(ChooseSimpleFormat("text/html;q=0", "") == SimpleFormat::kNotAcceptable);
  CHECK(ChooseSimpleFormat("text/html", "application/vnd.pypi.simple.v1+json") == SimpleFormat::kJson);
}

TEST_CASE("wheel index: a wheel a caught liar vouched for is withdrawn from /simple/, and the feeds say so",
          "[wheel_index]") {
  WheelNetwork n;
  std::string wheel = DemoWheel();
  std::string digest = DigestOf(wheel);
  REQUIRE(n.Report(n.alice, n.alice_task, wheel, digest).status == 200);
  REQUIRE(n.Report(n.bob, n.bob_task, wheel, digest).status == 200);
  REQUIRE(n.Page("/simple/demo-pkg/").status == 200);

  // Bob then claims "passed" for sdists that do not build; two volunteers of
  // other accounts say build_failed, until he is suspended.
  for (int i = 0; i < 8; ++i)
    n.index.SetProject("broken" + std::to_string(i), {{"broken" + std::to_string(i) + "-1.0.tar.gz", "x", ""}});
  REQUIRE(n.tc.Sync());
  TestVolunteer carol = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "carol", "carol-box",
                                      {kWheelTag});
  TestVolunteer dave = MakeVolunteer(std::shared_ptr<SigningKey>(SigningKey::Generate()), "dave", "dave-box",
                                     {kWheelTag});
  REQUIRE(Enrol(*n.tc.c, carol, n.tc.now).status == 200);
  REQUIRE(Enrol(*n.tc.c, dave, n.tc.now).status == 200);
  int lies = 0;
  while (Get(*n.tc.c, "/api/v1/volunteers/" + n.bob.id())["suspended"] != true) {
    REQUIRE(++lies <= 6);
    auto b = Lease(*n.tc.c, n.bob, n.tc.now);
    REQUIRE(b.size() == 1);
    REQUIRE(Submit(*n.tc.c, n.bob, Envelope(PayloadFor(b[0], n.bob, Outcome::kPassed, 10, {}, "made-up"), *n.bob.machine),
                   n.tc.now)
                .status == 200);
    for (TestVolunteer* v : {&carol, &dave}) {
      auto t = Lease(*n.tc.c, *v, n.tc.now);
      REQUIRE(t.size() == 1);
      REQUIRE(t[0].task_id == b[0].task_id);
      REQUIRE(Submit(*n.tc.c, *v, Envelope(PayloadFor(t[0], *v, Outcome::kBuildFailed, 10, {}, ""), *v->machine),
                     n.tc.now)
                  .status == 200);
    }
  }

  // The verdict he helped decide is reopened, and the wheel it vouched for
  // is gone from /simple/ (alice's attestation was of the same task).
  CHECK(Get(*n.tc.c, "/api/v1/tasks/" + n.alice_task.task_id)["status"] == "pending");
  CHECK(n.Page("/simple/demo-pkg/").status == 404);
  CHECK(n.Page("/simple/").body.find("demo-pkg") == std::string::npos);

  // The site-wide feed names the withdrawal (at the time of the last lie,
  // beside that verdict), in JSON and Atom.
  auto feed = Get(*n.tc.c, "/api/v1/verdicts");
  nlohmann::json withdrawal;
  for (const auto& e : feed["verdicts"])
    if (e["status"] == "withdrawn") withdrawal = e;
  REQUIRE(withdrawal.is_object());
  CHECK(withdrawal["task_id"] == n.alice_task.task_id);
  CHECK(withdrawal["withdrawn_status"] == "passed");
  CHECK(withdrawal["wheels_withdrawn"] == 1);
  CHECK(withdrawal["decided_at"] == n.tc.now.load());
  HttpResponse atom = n.Page("/feeds/verdicts.atom");
  REQUIRE(atom.status == 200);
  CHECK(atom.body.find("demo-pkg 1.0 on") != std::string::npos);
  CHECK(atom.body.find("verdict withdrawn (passed)") != std::string::npos);
  CHECK(atom.body.find("1 wheel(s) built for it were taken off /simple/") != std::string::npos);
  CHECK(atom.body.find("<category term=\"withdrawn\"/>") != std::string::npos);
}
