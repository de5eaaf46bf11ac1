// Which interpreter a volunteer offers for each platform tag. The daemon
// offers one platform per tag; when several interpreters share a tag
// (pyenv's 3.11.7 and Debian's 3.11.2 are both cp311), it offers the one that
// can build C extensions (has Python.h), then the newest.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/platform.h"

namespace corral::volunteer {

// `wanted`, when non-empty, restricts the choice to interpreters whose path
// or tag it lists; an interpreter whose path or tag `skipped` lists is never
// chosen (skip wins over use). Every interpreter left out is named in the log.
std::map<std::string, Platform> ChoosePlatforms(const std::vector<Platform>& found,
                                                const std::vector<std::string>& wanted,
                                                const std::vector<std::string>& skipped = {});

}  // namespace corral::volunteer
