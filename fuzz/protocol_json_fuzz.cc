// libFuzzer target: bounded JSON parsing and the protocol message parsers
// that read request bodies (enrolment, lease, heartbeat, result payloads)
// and stored result envelopes. Any crash, sanitizer report or exception
// escaping a parser is a bug (issue 18).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string err;
  nlohmann::json j;
  corral::ResultPayload payload;
  corral::ParseStoredResultEnvelope(std::string(text), &payload, &err);
  if (!corral::ParseJson(text, &j, &err)) return 0;
  corral::EnrolRequest enrol;
  corral::ParseEnrolRequest(j, &enrol, &err);
  corral::LeaseRequest lease;
  corral::ParseLeaseRequest(j, &lease, &err);
  corral::HeartbeatRequest hb;
  corral::ParseHeartbeatRequest(j, &hb, &err);
  corral::LeaseReturnRequest ret;
  corral::ParseLeaseReturnRequest(j, &ret, &err);
  corral::ResultPayload p2;
  corral::ParseResultPayload(j, &p2, &err);
  (void)j.dump();
  return 0;
}
