// The hostile corpus (issue 4, item 7): test suites that attack the machine
// that runs them, each meant to be packed into an sdist with
// SdistWithTests() and run through the real RunJob. Every attack writes
// what it tried and what the kernel answered to its output, so the tests
// can tell "blocked" from "never tried". Python 2.7..3.13 compatible.
//
// Processes that could outlive their job (bombs, loops) rename themselves
// to `marker` (prctl PR_SET_NAME, at most 15 characters) so a test can look
// for survivors in /proc/*/comm afterwards.
#pragma once

#include <string>
#include <vector>

namespace corral::sandbox::testing {

// Connects to a TCP listener on the host's loopback (`port`), to an
// abstract unix socket of the host (`abstract_name`, without the leading
// NUL), to 1.1.1.1:443 and resolves pypi.org; each test asserts it got
// through (so each fails when blocked).
std::string NetworkAttack(int port, const std::string& abstract_name);

// Reads each of `paths` (the volunteer's key among them), looks for the
// variable `env_name` in every process's environment and in its own (and
// prints its value), and searches the
// visible file system for files named like `key_name`; prints whatever it
// got ("STOLEN ...") and copies it to /job/stolen. Asserts it got something.
std::string SecretsAttack(const std::vector<std::string>& paths, const std::string& env_name,
                          const std::string& key_name);

// Writes to each of `paths` (files to create or append to); prints
// "WRITE <path> ok|errno=N" for each and asserts every write worked.
std::string WriteOutsideAttack(const std::vector<std::string>& paths);

// A fork bomb: every process forks for ever (sleeping briefly after a
// refused fork, printing the first refusal).
std::string ForkBomb(const std::string& marker);

// Allocates and touches 16 MiB blocks for ever.
std::string MemoryBomb(const std::string& marker);

// Fills /tmp (the sandbox's tmpfs) 1 MiB at a time.
std::string FillTmp();

// Fills the current folder (in the job folder) with 16 MiB files for ever.
std::string FillJobFolder(const std::string& marker);

// Writes one file of `bytes` bytes (beyond the file size limit).
std::string BigFile(long long bytes);

// Loops for ever without a word.
std::string SilentLoop(const std::string& marker);

// Prints a line for ever.
std::string PrintLoop(const std::string& marker);

// TIOCSTI (0x5412) with and without high bits set, through the raw ioctl
// syscall, on stdin and on a pty of its own; prints "TIOCSTI <variant>
// <fd> rc=R errno=E" and a TIOCGWINSZ control; asserts an injection worked.
std::string TiocstiAttack();

}  // namespace corral::sandbox::testing
