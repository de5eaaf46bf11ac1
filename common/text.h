// Small checks on text that crosses a trust boundary.
#pragma once

#include <string_view>

namespace corral {

// True when `s` is well-formed UTF-8 (1 to 4 byte sequences with their
// continuation bytes; overlong forms and surrogates are not checked).
bool IsValidUtf8(std::string_view s);

}  // namespace corral
