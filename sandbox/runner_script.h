// The in-sandbox runner (sandbox/runner.py), embedded in the binary so a
// volunteer needs no other file. The build generates its definition from
// runner.py (sandbox/embed_runner.cmake); tests/sandbox checks they match.
#pragma once

namespace corral::sandbox {
extern const char kRunnerPy[];
}  // namespace corral::sandbox
