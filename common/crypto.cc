#include "common/crypto.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>

namespace corral {

namespace fs = std::filesystem;

namespace {
constexpr std::string_view kKeyFileHeader = "corral-ed25519-secret-v1\n";
}

void InitCrypto() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) abort();
  });
}

std::string HexEncode(std::string_view bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                 bytes.size());
  out.pop_back();
  return out;
}

bool HexDecode(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  std::string bin(hex.size() / 2, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(), hex.data(),
                     hex.size(), nullptr, &len, &end) != 0 ||
      len != bin.size() || end != hex.data() + hex.size())
    return false;
  *out = std::move(bin);
  return true;
}

std::string Base64Encode(std::string_view bytes) {
  size_t len = sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out(len, '\0');
  sodium_bin2base64(out.data(), len, reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

bool Base64Decode(std::string_view text, std::string* out) {
  std::string bin(text.size() * 3 / 4 + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(bin.data()), bin.size(), text.data(),
                        text.size(), "\n\r ", &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size())
    return false;
  bin.resize(len);
  *out = std::move(bin);
  return true;
}

Sha256Stream::Sha256Stream() {
  static_assert(sizeof(state_) >= sizeof(crypto_hash_sha256_state));
  InitCrypto();
  crypto_hash_sha256_init(reinterpret_cast<crypto_hash_sha256_state*>(state_));
}

void Sha256Stream::Update(std::string_view data) {
  crypto_hash_sha256_update(reinterpret_cast<crypto_hash_sha256_state*>(state_),
                            reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

std::string Sha256Stream::FinalHex() {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(reinterpret_cast<crypto_hash_sha256_state*>(state_), digest);
  return HexEncode(std::string_view(reinterpret_cast<char*>(digest), sizeof(digest)));
}

std::string Sha256Hex(std::string_view data) {
  Sha256Stream s;
  s.Update(data);
  return s.FinalHex();
}

bool Sha256File(const fs::path& path, std::string* hex, std::string* err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *err = "cannot read " + path.string() + " to hash it: " + std::strerror(errno);
    return false;
  }
  Sha256Stream s;
  std::string buf(1 << 16, '\0');
  while (in) {
    in.read(buf.data(), buf.size());
    s.Update(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
  }
  if (in.bad()) {
    *err = "read error while hashing " + path.string();
    return false;
  }
  *hex = s.FinalHex();
  return true;
}

std::string RandomHex(size_t bytes) {
  InitCrypto();
  std::string buf(bytes, '\0');
  randombytes_buf(buf.data(), bytes);
  return HexEncode(buf);
}

SigningKey::SigningKey() {
  InitCrypto();
  secret_ = static_cast<unsigned char*>(sodium_malloc(crypto_sign_SECRETKEYBYTES));
  if (!secret_) abort();
}

SigningKey::~SigningKey() { sodium_free(secret_); }

std::unique_ptr<SigningKey> SigningKey::Generate() {
  std::unique_ptr<SigningKey> key(new SigningKey());
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_keypair(pk, key->secret_);
  key->public_hex_ = HexEncode(std::string_view(reinterpret_cast<char*>(pk), sizeof(pk)));
  sodium_mprotect_readonly(key->secret_);
  return key;
}

std::unique_ptr<SigningKey> SigningKey::Load(const fs::path& path, std::string* err) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *err = "cannot open key file " + path.string() + ": " + std::strerror(errno);
    return nullptr;
  }
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%03o", st.st_mode & 0777);
    *err = "key file " + path.string() + " is readable by other users (mode " + mode +
           "); run `chmod 600 " + path.string() + "` and consider the key compromised";
    return nullptr;
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = "cannot open key file " + path.string() + ": " + std::strerror(errno);
    return nullptr;
  }
  char buf[256];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  std::string_view text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  std::string seed;
  if (text.substr(0, kKeyFileHeader.size()) != kKeyFileHeader ||
      !HexDecode(text.substr(kKeyFileHeader.size(), crypto_sign_SEEDBYTES * 2), &seed) ||
      seed.size() != crypto_sign_SEEDBYTES) {
    sodium_memzero(buf, sizeof(buf));
    *err = "key file " + path.string() + " is not a Corral key (expected the line '" +
           std::string(kKeyFileHeader.substr(0, kKeyFileHeader.size() - 1)) +
           "' and a 64-hex-digit seed)";
    return nullptr;
  }
  std::unique_ptr<SigningKey> key(new SigningKey());
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(pk, key->secret_, reinterpret_cast<const unsigned char*>(seed.data()));
  sodium_memzero(seed.data(), seed.size());
  sodium_memzero(buf, sizeof(buf));
  key->public_hex_ = HexEncode(std::string_view(reinterpret_cast<char*>(pk), sizeof(pk)));
  sodium_mprotect_readonly(key->secret_);
  return key;
}

std::unique_ptr<SigningKey> SigningKey::LoadOrCreate(const fs::path& path, bool* created,
                                                     std::string* err) {
  *created = false;
  std::error_code ec;
  if (fs::exists(path, ec)) return Load(path, err);
  auto key = Generate();
  if (!key->Save(path, err)) return nullptr;
  *created = true;
  return key;
}

bool SigningKey::Save(const fs::path& path, std::string* err) const {
  std::error_code ec;
  if (path.has_parent_path()) {
    fs::create_directories(path.parent_path(), ec);
    chmod(path.parent_path().c_str(), 0700);
  }
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    *err = "cannot create key file " + path.string() + ": " + std::strerror(errno) +
           (errno == EEXIST ? " (a key is already there; refusing to overwrite it)" : "");
    return false;
  }
  // The seed is the first half of libsodium's secret key.
  std::string text(kKeyFileHeader);
  text += HexEncode(std::string_view(reinterpret_cast<const char*>(secret_), crypto_sign_SEEDBYTES));
  text += "\n";
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  sodium_memzero(text.data(), text.size());
  close(fd);
  if (!ok) *err = "cannot write key file " + path.string() + ": " + std::strerror(errno);
  return ok;
}

std::string SigningKey::Sign(std::string_view message) const {
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), secret_);
  return std::string(reinterpret_cast<char*>(sig), sizeof(sig));
}

bool VerifySignature(std::string_view public_hex, std::string_view message,
                     std::string_view signature) {
  InitCrypto();
  std::string pk;
  if (!HexDecode(public_hex, &pk) || pk.size() != crypto_sign_PUBLICKEYBYTES ||
      signature.size() != crypto_sign_BYTES)
    return false;
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(),
                                     reinterpret_cast<const unsigned char*>(pk.data())) == 0;
}

}  // namespace corral
