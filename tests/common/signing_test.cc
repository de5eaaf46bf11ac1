#include "common/signing.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <sys/stat.h>

#include "common/crypto.h"

using namespace corral;
namespace fs = std::filesystem;

namespace {
RequestSignature FromHeaders(const std::vector<std::pair<std::string, std::string>>& h) {
  RequestSignature s;
  for (auto& [k, v] : h) {
    if (k == "Corral-Key") s.key = v;
    if (k == "Corral-Date") s.date = v;
    if (k == "Corral-Nonce") s.nonce = v;
    if (k == "Corral-Signature") s.signature = v;
  }
  return s;
}
}  // namespace

TEST_CASE("a signed request verifies and any alteration is refused") {
  auto key = SigningKey::Generate();
  const int64_t now = 1'700'000'000;
  auto sig = FromHeaders(SignRequest(*key, "POST", "/api/v1/lease", "{\"slots\":1}", now));
  std::string code, detail;
  REQUIRE(VerifyRequest(sig, "POST", "/api/v1/lease", "{\"slots\":1}", now, 300, &code, &detail));

  SECTION("altered body") {
    CHECK_FALSE(VerifyRequest(sig, "POST", "/api/v1/lease", "{\"slots\":9}", now, 300, &code, &detail));
    CHECK(code == "bad_signature");
  }
  SECTION("altered path") {
    CHECK_FALSE(VerifyRequest(sig, "POST", "/api/v1/results", "{\"slots\":1}", now, 300, &code, &detail));
    CHECK(code == "bad_signature");
  }
  SECTION("another key") {
    sig.key = SigningKey::Generate()->public_hex();
    CHECK_FALSE(VerifyRequest(sig, "POST", "/api/v1/lease", "{\"slots\":1}", now, 300, &code, &detail));
    CHECK(code == "bad_signature");
  }
  SECTION("clock too far off") {
    CHECK_FALSE(VerifyRequest(sig, "POST", "/api/v1/lease", "{\"slots\":1}", now + 301, 300, &code, &detail));
    CHECK(code == "stale_date");
  }
  SECTION("headers missing") {
    sig.signature.clear();
    CHECK_FALSE(VerifyRequest(sig, "POST", "/api/v1/lease", "{\"slots\":1}", now, 300, &code, &detail));
    CHECK(code == "missing_signature");
  }
}

TEST_CASE("DSSE envelopes verify only with the signer's key and intact payload") {
  auto key = SigningKey::Generate();
  nlohmann::json env = DsseSign(kResultPayloadType, "{\"outcome\":\"passed\"}", *key);
  std::string payload, err;
  REQUIRE(DsseVerify(env, kResultPayloadType, key->public_hex(), &payload, &err));
  CHECK(payload == "{\"outcome\":\"passed\"}");
  CHECK(DsseKeyId(env) == key->public_hex());

  nlohmann::json tampered = env;
  tampered["payload"] = Base64Encode("{\"outcome\":\"failed\"}");
  CHECK_FALSE(DsseVerify(tampered, kResultPayloadType, key->public_hex(), &payload, &err));

  CHECK_FALSE(DsseVerify(env, kResultPayloadType, SigningKey::Generate()->public_hex(), &payload, &err));
  CHECK_FALSE(DsseVerify(env, "text/plain", key->public_hex(), &payload, &err));
  CHECK_FALSE(DsseVerify(nlohmann::json::array(), kResultPayloadType, key->public_hex(), &payload, &err));
  CHECK(DssePae("t", "ab") == "DSSEv1 1 t 2 ab");
}

TEST_CASE("key files round-trip with mode 0600 and refuse loose permissions") {
  fs::path dir = fs::temp_directory_path() / ("corral-key-" + RandomHex(6));
  fs::path file = dir / "machine.key";
  bool created = false;
  std::string err;
  auto key = SigningKey::LoadOrCreate(file, &created, &err);
  REQUIRE(key);
  CHECK(created);
  struct stat st;
  REQUIRE(stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto again = SigningKey::LoadOrCreate(file, &created, &err);
  REQUIRE(again);
  CHECK_FALSE(created);
  CHECK(again->public_hex() == key->public_hex());
  std::string sig = again->Sign("m");
  CHECK(VerifySignature(key->public_hex(), "m", sig));

  chmod(file.c_str(), 0644);
  CHECK_FALSE(SigningKey::Load(file, &err));
  CHECK(err.find("chmod 600") != std::string::npos);
  CHECK_FALSE(key->Save(file, &err));  // never overwrites
  fs::remove_all(dir);
}

TEST_CASE("hex, base64 and sha256 helpers") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string out;
  CHECK(HexDecode(HexEncode("\x01\xff"), &out));
  CHECK(out == "\x01\xff");
  CHECK_FALSE(HexDecode("zz", &out));
  CHECK(Base64Encode("hello") == "aGVsbG8=");
  CHECK(Base64Decode("aGVsbG8=", &out));
  CHECK(out == "hello");
  CHECK_FALSE(Base64Decode("***", &out));
}
