// Hashing a built wheel two ways (DESIGN.md sections 4 and 5). The file
// sha256 names the artifact; the content digest is what volunteers compare:
// it ignores zip timestamps, compression and entry order, so two honest
// builds of the same sdist with the same toolchain agree.
#pragma once

#include <filesystem>
#include <string>

namespace corral::sandbox {

// sha256 over the sorted lines "path\tsha256-of-content\n" of every file in
// the wheel (a zip), leaving out *.dist-info/RECORD and its signatures
// (RECORD.jws, RECORD.p7s), which restate the same hashes. Lower-case hex.
// Returns false with *err on an unreadable or malformed zip, or one with
// more than 200k entries or 8 GiB of content.
bool WheelContentDigest(const std::filesystem::path& wheel, std::string* digest,
                        std::string* err);

}  // namespace corral::sandbox
