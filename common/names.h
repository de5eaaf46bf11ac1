// Project names as PyPI compares them (PEP 503).
#pragma once

#include <string>
#include <string_view>

namespace corral {

// Lower case, with each run of '-', '_' and '.' replaced by one '-':
// "Foo.Bar__baz" -> "foo-bar-baz".
std::string NormalizeProjectName(std::string_view name);

// True when `name` is a valid distribution name per the core metadata
// spec: ASCII letters, digits, '.', '_', '-', starting and ending with a
// letter or digit.
bool IsValidProjectName(std::string_view name);

// Account and machine names: 1 to 64 ASCII letters, digits, '-', '_', '.'.
bool IsValidAccountName(std::string_view name);

}  // namespace corral
