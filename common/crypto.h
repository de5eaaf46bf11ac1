// Hashes, encodings and Ed25519 keys (libsodium). Volunteers sign requests
// and results with a machine key enrolled under an account key; anyone can
// verify with the public halves.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace corral {

// Must be called before any other function here; safe to call many times.
void InitCrypto();

std::string HexEncode(std::string_view bytes);
// Returns false on odd length or a non-hex character.
bool HexDecode(std::string_view hex, std::string* out);
std::string Base64Encode(std::string_view bytes);
bool Base64Decode(std::string_view text, std::string* out);

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// Lower-case hex SHA-256 of a file's bytes; false with *err on I/O error.
bool Sha256File(const std::filesystem::path& path, std::string* hex, std::string* err);

// Incremental SHA-256, for streams (downloads, archives).
class Sha256Stream {
 public:
  Sha256Stream();
  void Update(std::string_view data);
  std::string FinalHex();

 private:
  alignas(64) unsigned char state_[256];
};

// `bytes` random bytes as hex (libsodium's CSPRNG).
std::string RandomHex(size_t bytes);

// An Ed25519 key pair. The secret half lives in sodium_malloc'd memory,
// locked and guarded, and is wiped on destruction. Not copyable.
class SigningKey {
 public:
  ~SigningKey();
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;

  static std::unique_ptr<SigningKey> Generate();
  // Loads a key file written by Save. Refuses a file readable by group or
  // others, since it may have leaked: *err says so and how to fix the mode.
  static std::unique_ptr<SigningKey> Load(const std::filesystem::path& path, std::string* err);
  // Loads the key at `path`, or creates one there (mode 0600, parent 0700)
  // when the file does not exist. *created tells which happened.
  static std::unique_ptr<SigningKey> LoadOrCreate(const std::filesystem::path& path,
                                                  bool* created, std::string* err);
  // Writes the key with mode 0600; never overwrites an existing file.
  bool Save(const std::filesystem::path& path, std::string* err) const;

  // The 32-byte public key as 64 hex characters: the key's id everywhere.
  const std::string& public_hex() const { return public_hex_; }
  // Raw 64-byte detached signature of `message`.
  std::string Sign(std::string_view message) const;

 private:
  SigningKey();
  unsigned char* secret_ = nullptr;  // 64 bytes, sodium_malloc
  std::string public_hex_;
};

// True when `signature` (raw 64 bytes) is `public_hex`'s signature of `message`.
bool VerifySignature(std::string_view public_hex, std::string_view message,
                     std::string_view signature);

}  // namespace corral
