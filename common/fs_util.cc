#include "common/fs_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/crypto.h"

namespace corral {

namespace fs = std::filesystem;

bool ReadFile(const fs::path& path, std::string* out, std::string* err) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0) {
    *err = "cannot read " + path.string() + ": " + std::strerror(errno);
    if (fd >= 0) close(fd);
    return false;
  }
  // One read for a regular file of known size; pipes and /proc files (size
  // 0 or unknown) are read until the end in steps.
  out->clear();
  out->resize(S_ISREG(st.st_mode) && st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 64 * 1024);
  size_t used = 0;
  for (;;) {
    if (used == out->size()) out->resize(used + 64 * 1024);
    ssize_t n = read(fd, out->data() + used, out->size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = "cannot read " + path.string() + ": " + std::strerror(errno);
      close(fd);
      return false;
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  out->resize(used);
  close(fd);
  return true;
}

bool WriteFileAtomic(const fs::path& path, const std::string& data, std::string* err, int mode) {
  fs::path tmp = path;
  tmp += ".tmp-" + RandomHex(4);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    *err = "cannot write " + tmp.string() + ": " + std::strerror(errno);
    return false;
  }
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = "cannot write " + tmp.string() + ": " + std::strerror(errno);
      close(fd);
      unlink(tmp.c_str());
      return false;
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    *err = "cannot flush " + tmp.string() + ": " + std::strerror(errno);
    unlink(tmp.c_str());
    return false;
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    *err = "cannot rename " + tmp.string() + " to " + path.string() + ": " + std::strerror(errno);
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

bool EnsureDir(const fs::path& dir, std::string* err) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    *err = "cannot create directory " + dir.string() + ": " + ec.message();
    return false;
  }
  return true;
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace corral
