// Small checks on text that crosses a trust boundary.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace corral {

// True when `s` is well-formed UTF-8 (1 to 4 byte sequences with their
// continuation bytes; overlong forms and surrogates are not checked).
bool IsValidUtf8(std::string_view s);

// True when `s` is exactly `length` lower-case hex digits (a sha256, an
// Ed25519 public key: 64). Never throws.
bool IsLowerHex(std::string_view s, size_t length);

// The longest prefix of `s` of at most `max_bytes` bytes that does not end
// inside a UTF-8 sequence (cut before the sequence's lead byte). Never fails.
std::string CutUtf8(std::string_view s, size_t max_bytes);

}  // namespace corral
