// The network a volunteer's request came from, coarse enough that one
// household, one office or one cloud tenant usually shares it: the /24 of an
// IPv4 address and the /48 of an IPv6 one (DESIGN.md section 6). The verifier
// never lets two results from one prefix form a quorum, so that a Sybil ring
// of fresh accounts run from one place cannot vote twice.
//
// Every address of 127.0.0.0/8 is loopback on Linux; the prefix of 127.a.b.c
// is 127.a.b.0/24 like any other IPv4 address, which lets a simulation on one
// machine speak from many prefixes. A real deployment where every volunteer
// shares one network (a demo on one machine, a lab behind one NAT) turns the
// rule off instead (QuorumPolicy::distinct_prefix).
#pragma once

#include <string>

namespace corral::coordinator {

// "203.0.113.0/24" for "203.0.113.7"; "2001:db8:1::/48" for
// "2001:db8:1:2::5"; an IPv4-mapped IPv6 address ("::ffff:1.2.3.4") is read
// as its IPv4 address. "" when `address` is not an IP address (the caller
// then knows nothing about the network and treats it as its own prefix).
std::string NetworkPrefix(const std::string& address);

}  // namespace corral::coordinator
