// A small network for the verifier's tests (adaptive replication, known
// answers, cheaters, quotas): a coordinator over a test index of `projects`
// one-file projects on one platform, and volunteers each under its own
// account and speaking from its own /24 unless a test says otherwise. Every
// request goes through the coordinator's routes, signed, with the member's
// address as the request's peer address.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "coordinator/quorum.h"
#include "coordinator/reputation.h"
#include "coordinator_test_support.h"

namespace corral::testing {

inline const std::string kWorldTag = "cp311-linux_x86_64";

struct Member {
  TestVolunteer v;
  std::string addr;
  std::string id() const { return v.id(); }
};

class VerifierWorld {
 public:
  VerifierWorld(int projects, const std::function<void(coordinator::Options&)>& configure = {},
                int lease_seconds = 900)
      : tc_(Index(projects), {kWorldTag}, lease_seconds, [&](coordinator::Options& o) {
          o.distinct_prefix = true;
          o.adaptive_replication = true;
          o.seed = 42;
          if (configure) configure(o);
        }) {
    if (!tc_.Sync()) throw std::runtime_error("index sync failed");
  }

  // A volunteer under `account` (a new one when null), from `addr` (its own
  // /24 when empty).
  Member& Add(const std::string& name, std::shared_ptr<SigningKey> account = nullptr,
              std::string addr = "") {
    if (!account) account = std::shared_ptr<SigningKey>(SigningKey::Generate());
    if (addr.empty()) addr = "10." + std::to_string(members_.size() / 250) + "." +
                             std::to_string(members_.size() % 250) + ".7";
    members_.push_back(std::make_unique<Member>(Member{MakeVolunteer(account, name, name + "-box", {kWorldTag}), addr}));
    Member& m = *members_.back();
    EnrolRequest e;
    e.account_key = m.v.account->public_hex();
    e.account_name = name;
    e.machine_key = m.id();
    e.machine_name = m.v.machine_name;
    e.account_signature = Base64Encode(m.v.account->Sign(EnrolmentMessage(e.machine_key, name, e.machine_name)));
    e.platforms = m.v.platforms;
    HttpRequest r = Signed(*m.v.machine, "POST", "/api/v1/volunteers", nlohmann::json(e).dump(), now());
    r.remote_addr = m.addr;
    if (tc_.c->Handle(r).status != 200) throw std::runtime_error("enrolment failed");
    return m;
  }

  // `from`: another address than the member's usual one.
  HttpResponse LeaseResponseOf(const Member& m, int slots = 1, const std::string& from = "") {
    LeaseRequest lr;
    lr.platforms = m.v.platforms;
    lr.slots = slots;
    HttpRequest r = Signed(*m.v.machine, "POST", "/api/v1/lease", nlohmann::json(lr).dump(), now());
    r.remote_addr = from.empty() ? m.addr : from;
    return tc_.c->Handle(r);
  }
  std::vector<TaskSpec> Lease(const Member& m, int slots = 1, const std::string& from = "") {
    HttpResponse r = LeaseResponseOf(m, slots, from);
    LeaseResponse resp;
    std::string err;
    if (r.status != 200 || !ParseLeaseResponse(Body(r), &resp, &err)) return {};
    return resp.tasks;
  }

  HttpResponse Report(const Member& m, const TaskSpec& t, Outcome o, const std::string& digest = "d1",
                      std::vector<std::string> failing = {}, double seconds = 10) {
    ResultPayload p = PayloadFor(t, m.v, o, seconds, std::move(failing),
                                 coordinator::OutcomeHasWheel(o) ? digest : "");
    HttpRequest r = Signed(*m.v.machine, "POST", "/api/v1/results", Envelope(p, *m.v.machine), now());
    r.remote_addr = m.addr;
    return tc_.c->Handle(r);
  }

  nlohmann::json Task(const std::string& id) { return Get(*tc_.c, "/api/v1/tasks/" + id); }
  nlohmann::json Volunteer(const Member& m) { return Get(*tc_.c, "/api/v1/volunteers/" + m.id()); }
  coordinator::ReputationRecord Reputation(const Member& m) {
    coordinator::ReputationRecord r;
    tc_.c->FindReputation(m.id(), &r);
    return r;
  }
  std::string Status(const std::string& task_id) { return Task(task_id).value("status", ""); }

  coordinator::Coordinator& c() { return *tc_.c; }
  void Restart(const std::function<void(coordinator::Options&)>& change) { tc_.Restart(change); }
  int64_t now() const { return tc_.now.load(); }
  void Advance(int64_t seconds) { tc_.now += seconds; }

 private:
  TestIndex& Index(int projects) {
    for (int i = 0; i < projects; ++i) {
      std::string name = "p" + std::to_string(1000 + i);
      index_.SetProject(name, {{name + "-1.0.tar.gz", "content of " + name, ""}});
    }
    return index_;
  }

  TestIndex index_;
  TestCoordinator tc_;
  std::vector<std::unique_ptr<Member>> members_;
};

}  // namespace corral::testing
