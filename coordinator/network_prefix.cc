#include "coordinator/network_prefix.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace corral::coordinator {

namespace {

std::string V4Prefix(const unsigned char* b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.0/24", b[0], b[1], b[2]);
  return buf;
}

}  // namespace

std::string NetworkPrefix(const std::string& address) {
  std::string a = address;
  // "[::1]" as some servers print it; a zone ("fe80::1%eth0") is local detail.
  if (a.size() > 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  size_t zone = a.find('%');
  if (zone != std::string::npos) a.resize(zone);
  unsigned char b[16];
  if (inet_pton(AF_INET, a.c_str(), b) == 1) return V4Prefix(b);
  if (inet_pton(AF_INET6, a.c_str(), b) != 1) return "";
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMapped, 12) == 0) return V4Prefix(b + 12);
  unsigned char p[16] = {};
  std::memcpy(p, b, 6);  // 48 bits
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(AF_INET6, p, buf, sizeof buf)) return "";
  return std::string(buf) + "/48";
}

}  // namespace corral::coordinator
