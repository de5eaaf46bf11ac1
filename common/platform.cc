#include "common/platform.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace corral {

std::string PlatformTag::ToString() const {
  return implementation + std::to_string(major) + std::to_string(minor) + "-" +
         (os == "windows" ? "win" : os == "macos" ? "macosx" : os) + "_" + arch;
}

std::string PlatformTag::PythonVersion() const {
  return std::to_string(major) + "." + std::to_string(minor);
}

bool ParsePlatformTag(std::string_view tag, PlatformTag* out, std::string* err) {
  auto fail = [&](const std::string& why) {
    *err = "bad platform tag '" + std::string(tag) + "': " + why +
           " (expected a PEP 425 form such as cp311-linux_x86_64 or pp39-linux_x86_64)";
    return false;
  };
  size_t dash = tag.find('-');
  if (dash == std::string_view::npos) return fail("no '-' between interpreter and platform");
  std::string_view interp = tag.substr(0, dash), plat = tag.substr(dash + 1);
  if (interp.size() < 4 || (interp.substr(0, 2) != "cp" && interp.substr(0, 2) != "pp"))
    return fail("the interpreter part must be cpXY or ppXY");
  std::string_view digits = interp.substr(2);
  if (tag.size() > 64) return fail("longer than 64 characters");
  for (char c : digits)
    if (c < '0' || c > '9') return fail("the interpreter version must be digits");
  if ((digits[0] != '2' && digits[0] != '3') || digits.size() > 3 || (digits.size() == 3 && digits[1] == '0'))
    return fail("the interpreter must be Python 2 or 3 (cp27, cp312, pp310, ...)");
  PlatformTag t;
  t.implementation = std::string(interp.substr(0, 2));
  t.major = digits[0] - '0';
  std::from_chars(digits.data() + 1, digits.data() + digits.size(), t.minor);
  size_t us = plat.find('_');
  if (us == std::string_view::npos || us == 0 || us + 1 == plat.size())
    return fail("the platform part must be os_arch");
  std::string_view os = plat.substr(0, us), arch = plat.substr(us + 1);
  // PEP 425 platform tags of the OS families wheels are built for; anything
  // else is a made-up tag that would only grow the store.
  bool known_os = os == "linux" || os == "macosx" || os == "win" ||
                  os.substr(0, 9) == "manylinux" || os.substr(0, 9) == "musllinux";
  if (!known_os) return fail("the OS must be linux, manylinux*, musllinux*, macosx or win");
  for (char c : plat)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return fail("the platform part may hold only a-z, 0-9 and '_'");
  static constexpr std::string_view kArches[] = {"x86_64", "i686", "aarch64", "armv7l", "ppc64le",
                                                  "ppc64", "s390x", "riscv64", "arm64", "amd64",
                                                  "universal2", "x86", "intel", "universal"};
  bool known_arch = false;
  for (std::string_view a : kArches)
    if (arch.size() >= a.size() && arch.substr(arch.size() - a.size()) == a &&
        (arch.size() == a.size() || arch[arch.size() - a.size() - 1] == '_'))
      known_arch = true;
  if (!known_arch) return fail("unknown CPU architecture '" + std::string(arch) + "'");
  t.os = os == "win" ? "windows" : os == "macosx" ? "macos" : std::string(os);
  t.arch = std::string(arch);
  *out = t;
  return true;
}

PlatformTag Platform::Tag() const {
  PlatformTag t;
  t.implementation = implementation == "pypy" ? "pp" : "cp";
  std::string_view v = python_version;
  size_t dot = v.find('.');
  std::from_chars(v.data(), v.data() + (dot == std::string_view::npos ? v.size() : dot), t.major);
  if (dot != std::string_view::npos) {
    size_t dot2 = v.find('.', dot + 1);
    std::from_chars(v.data() + dot + 1,
                    v.data() + (dot2 == std::string_view::npos ? v.size() : dot2), t.minor);
  }
  t.os = os;
  t.arch = arch;
  return t;
}

void to_json(nlohmann::json& j, const PlatformTag& t) { j = t.ToString(); }

void to_json(nlohmann::json& j, const Platform& p) {
  j = {{"tag", p.Tag().ToString()},
       {"implementation", p.implementation},
       {"python_version", p.python_version},
       {"interpreter_build", p.interpreter_build},
       {"interpreter_path", p.interpreter_path},
       {"os", p.os},
       {"arch", p.arch},
       {"libc", p.libc},
       {"kernel", p.kernel},
       {"has_headers", p.has_headers}};
}

void from_json(const nlohmann::json& j, Platform& p) {
  p.implementation = j.value("implementation", "");
  p.python_version = j.value("python_version", "");
  p.interpreter_build = j.value("interpreter_build", "");
  p.interpreter_path = j.value("interpreter_path", "");
  p.os = j.value("os", "");
  p.arch = j.value("arch", "");
  p.libc = j.value("libc", "");
  p.kernel = j.value("kernel", "");
  p.has_headers = j.value("has_headers", false);
}

}  // namespace corral
