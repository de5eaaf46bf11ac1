#include "coordinator/network_prefix.h"

#include <catch2/catch.hpp>

using corral::coordinator::NetworkPrefix;

TEST_CASE("network prefix: the /24 of IPv4, the /48 of IPv6") {
  CHECK(NetworkPrefix("203.0.113.7") == "203.0.113.0/24");
  CHECK(NetworkPrefix("203.0.113.200") == NetworkPrefix("203.0.113.1"));
  CHECK(NetworkPrefix("203.0.114.7") != NetworkPrefix("203.0.113.7"));
  CHECK(NetworkPrefix("2001:db8:1:2::5") == "2001:db8:1::/48");
  CHECK(NetworkPrefix("2001:db8:1:ffff:1:2:3:4") == NetworkPrefix("2001:db8:1::1"));
  CHECK(NetworkPrefix("2001:db8:2::1") != NetworkPrefix("2001:db8:1::1"));
  // An IPv4 client seen through a dual-stack socket is the same network.
  CHECK(NetworkPrefix("::ffff:203.0.113.9") == "203.0.113.0/24");
  CHECK(NetworkPrefix("[2001:db8:1::1]") == "2001:db8:1::/48");
  CHECK(NetworkPrefix("fe80::1%eth0") == "fe80::/48");
}

TEST_CASE("network prefix: loopback addresses are prefixes like any other") {
  // 127.0.0.0/8 is all loopback on Linux: a simulation on one machine can
  // speak from many /24s; a demo where everyone is 127.0.0.1 shares one.
  CHECK(NetworkPrefix("127.0.0.1") == "127.0.0.0/24");
  CHECK(NetworkPrefix("127.0.1.5") == "127.0.1.0/24");
  CHECK(NetworkPrefix("::1") == "::/48");
}

TEST_CASE("network prefix: not an address gives the empty prefix") {
  CHECK(NetworkPrefix("").empty());
  CHECK(NetworkPrefix("example.org").empty());
  CHECK(NetworkPrefix("300.1.2.3").empty());
  CHECK(NetworkPrefix("1.2.3").empty());
}
