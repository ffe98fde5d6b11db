// What each load scenario sends, and which reply proves the request was served right.
// No I/O: the driver asks for the next request of a slot and checks the reply with it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proto/reply.h"
#include "proto/request.h"

namespace im::loadgen {

class ProvenAccounts;

struct Request {
  bool udp = false;          // a datagram to the presence port, else one TCP connection
  std::string bytes;         // what to send
  bool expect_reply = true;  // a lone SET expects none
  // TCP, an account request: its reply is read with proto::ParseReply against the verb's
  // replies and must be `expect`; nullopt: any 2xx (seeding, where 201 is fine too).
  std::optional<proto::Verb> verb;
  std::optional<proto::Reply> expect;
  std::string expect_prefix; // TCP, raw: the reply must start with this (not our protocol), or
  int expect_buddies = -1;   // a GET reply must list exactly this many buddies (UDP)
  uint64_t pause_ms = 0;     // wait this long before sending (mixed: heartbeat pacing)
  std::vector<std::string> pre_datagrams;  // udp: sent, unanswered, just before `bytes`
  uint32_t weight = 1;       // how many requests this counts for (udp-set: SETs in the batch)
  uint64_t tag = 0;          // the scenario's own note for Check (udp-set: the batch number)
  int slot = -1;             // the slot it was made for, when Check needs it
  // udp, proven scenarios: signs each datagram as it goes out (after its cookie, which the
  // proof covers); signed_as names the user of each: pre_datagrams in order, then bytes.
  ProvenAccounts* prover = nullptr;
  std::vector<std::string> signed_as;
};

// One account request over TCP (its line from proto::FormatRequest) that must get `expect`.
Request AccountRequest(const proto::Request& request, proto::Reply expect);
// A seeding request: any 2xx reply of its verb will do.
Request SeedRequest(const proto::Request& request);
// A raw TCP line whose reply must start with `expect_prefix`.
Request RawRequest(std::string line, std::string expect_prefix);
// A GET datagram whose reply must list exactly `buddies` buddies.
Request GetRequest(std::string datagram, int buddies);
// A datagram with no reply (a lone SET).
Request UnansweredDatagram(std::string datagram);

struct ScenarioOptions {
  std::string name;          // reg | login | add | udp-get | udp-set | mixed | raw
  std::string prefix;        // user-id prefix, so runs never collide
  int users = 100;           // population for add/udp-get/udp-set, registered while seeding
  int buddies = 10;          // buddies per user for udp-get and mixed
  uint64_t interval_ms = 1000;  // mixed: each user's SET+GET period
  std::string raw_line;      // raw: the line to send ("\r\n" appended)
  std::string raw_expect;    // raw: the reply prefix
  int slots = 1;             // concurrency, so per-slot state can be laid out
  int set_batch = 8;         // udp-set: SETs per batch, each batch closed by one GET fence
  // udp-get/udp-set: users `seeded_prefix`0 .. N-1 already exist, each with exactly
  // `buddies` buddies (the bench's bulk SQLite seed); 0: register `users` over TCP instead.
  int seeded_users = 0;
  std::string seeded_prefix = "seed";
  // udp-get/udp-set: every account has a password, is linked with proven ADDs, and every
  // datagram carries a proof of its user's session (what a logged-in client sends), so
  // the run measures proven SET/GET against the same scenario unproven.
  bool proven = false;
  uint64_t (*clock_ms)() = nullptr;  // udp-set's lag check; nullptr: the monotonic clock (tests pass a fake)
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  // Account requests to run before the clock starts (each must answer 2xx).
  virtual std::vector<proto::Request> SeedRequests() { return {}; }
  // Seeding in phases: asked once the previous phase's requests have all been answered
  // (a proven ADD needs the session its user's REG was granted); empty when done.
  virtual std::vector<proto::Request> NextSeedPhase() { return {}; }
  // The reply to request `index` of the current seed phase, when it passed.
  virtual void OnSeedReply(size_t index, const std::string& reply) { (void)index, (void)reply; }
  // The next request of `slot`; `seq` counts that slot's requests from 0.
  virtual Request Next(int slot, uint64_t seq) = 0;
  // Whether `reply` answers `request` correctly; on failure *why says how it differs.
  virtual bool Check(const Request& request, const std::string& reply, std::string* why);
};

// The password of the login scenario's accounts (a load test's, not a secret).
inline constexpr const char* kLoginPassword = "loadgen-password";

// nullptr (and *error set) for an unknown name or missing raw options.
std::unique_ptr<Scenario> MakeScenario(const ScenarioOptions& options, std::string* error);

// The generic check: a GET reply with expect_buddies entries, the expected account reply,
// or (raw) a line with expect_prefix.
bool ReplyMatches(const Request& request, const std::string& reply, std::string* why);

}  // namespace im::loadgen
