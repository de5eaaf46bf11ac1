// Turning a release's files into tasks (DESIGN.md section 2): which file is
// the input on a platform, what the task's id is, and whether Requires-Python
// rules the platform out before anything is built.
#pragma once

#include <string>
#include <vector>

#include "common/platform.h"

namespace corral::coordinator {

struct FileRecord;

// Hex sha256 of "project\0version\0file sha256\0platform tag": derived from
// content, so ingesting the same file again never makes a second task.
std::string TaskId(const std::string& project, const std::string& version,
                   const std::string& file_sha256, const std::string& platform);

// The input file of one release on one platform: its sdist when it has one
// (a .tar.gz preferred), otherwise the wheel that fits the platform best
// (pure-Python wheels included); nullptr when none fits.
const FileRecord* ChooseInput(const std::vector<FileRecord>& release_files, const PlatformTag& tag);

// True when the wheel filename's tags can run on `tag` (interpreter and OS /
// architecture; the ABI is not checked).
bool WheelFits(const std::string& wheel_filename, const PlatformTag& tag);

// Decides whether `requires_python` excludes the platform's Python X.Y.
// Returns false (and fills *err) when the specifier is malformed: the caller
// then lets a volunteer find out. On true, *excluded says the answer and
// *evidence the sentence for the verdict.
bool RequiresPythonExcludes(const std::string& requires_python, const PlatformTag& tag,
                            bool* excluded, std::string* evidence, std::string* err);

}  // namespace corral::coordinator
