#include "tools/loadgen/scenario.h"

#include <algorithm>
#include <chrono>
#include <deque>

#include "proto/presence.h"
#include "tools/loadgen/proven_accounts.h"

namespace im::loadgen {
namespace {

proto::Request RegOf(std::string user) {
  proto::Request r;
  r.verb = proto::Verb::kReg;
  r.user = std::move(user);
  return r;
}

// ADD or DEL of `buddy` on `user`'s list.
proto::Request PairOf(proto::Verb verb, std::string user, std::string buddy) {
  proto::Request r;
  r.verb = verb;
  r.user = std::move(user);
  r.buddy = std::move(buddy);
  return r;
}

// xorshift64*: cheap, good enough to spread load over users.
uint64_t Mix(uint64_t x) {
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  return x * 2685821657736338717ULL;
}

class Reg : public Scenario {
 public:
  explicit Reg(const ScenarioOptions& o) : o_(o) {}
  Request Next(int slot, uint64_t seq) override {
    return AccountRequest(RegOf(o_.prefix + "r" + std::to_string(slot) + "_" + std::to_string(seq)), proto::Reply::kOk);
  }
 private:
  ScenarioOptions o_;
};

// Log-ins: REG <user> <password> against accounts registered with that password while
// seeding, each answered 210 with a grant. The server hashes every one on libuv's pool, so
// this measures the hash, not the loop. Only kLoginAccounts are registered: the server
// throttles registrations with a password per source address (a burst of 20), and a
// successful log-in is never throttled, so the slots take turns on them.
class Login : public Scenario {
 public:
  static constexpr int kLoginAccounts = 16;
  explicit Login(const ScenarioOptions& o) : o_(o) {}
  std::vector<proto::Request> SeedRequests() override {
    std::vector<proto::Request> seed;
    for (int i = 0; i < kLoginAccounts; ++i) seed.push_back(WithPassword(User(i)));
    return seed;
  }
  Request Next(int slot, uint64_t seq) override {
    int account = static_cast<int>((static_cast<uint64_t>(slot) + seq) % kLoginAccounts);
    return AccountRequest(WithPassword(User(account)), proto::Reply::kLoggedIn);
  }
 private:
  static proto::Request WithPassword(std::string user) {
    proto::Request r = RegOf(std::move(user));
    r.password = kLoginPassword;
    return r;
  }
  std::string User(int i) const { return o_.prefix + "l" + std::to_string(i); }
  ScenarioOptions o_;
};

// ADD then DEL of the same pair, so every request must answer 200. Slot s owns user s as
// the list owner, so no two slots race on one list.
class AddDel : public Scenario {
 public:
  explicit AddDel(const ScenarioOptions& o) : o_(o), users_(std::max(o.users, o.slots + 1)) {}
  std::vector<proto::Request> SeedRequests() override {
    std::vector<proto::Request> seed;
    for (int i = 0; i < users_; ++i) seed.push_back(RegOf(User(i)));
    return seed;
  }
  Request Next(int slot, uint64_t seq) override {
    int partner = (slot + 1 + static_cast<int>((seq / 2) % static_cast<uint64_t>(users_ - 1))) % users_;
    if (partner == slot) partner = (partner + 1) % users_;
    proto::Verb verb = seq % 2 == 0 ? proto::Verb::kAdd : proto::Verb::kDel;
    return AccountRequest(PairOf(verb, User(slot), User(partner)), proto::Reply::kOk);
  }
 private:
  std::string User(int i) const { return o_.prefix + "a" + std::to_string(i); }
  ScenarioOptions o_;
  int users_;
};

// GET for users who each have exactly `buddies` buddies: registered and linked while
// seeding, or the bench's bulk-seeded population (--seeded-users).
class UdpGet : public Scenario {
 public:
  explicit UdpGet(const ScenarioOptions& o)
      : o_(o), users_(o.seeded_users > 0 ? o.seeded_users : std::max(o.users, o.buddies + 1)) {}
  std::vector<proto::Request> SeedRequests() override {
    std::vector<proto::Request> seed;
    if (o_.seeded_users > 0) return seed;
    if (o_.proven) {
      std::vector<std::string> users;
      for (int i = 0; i < users_; ++i) users.push_back(User(i));
      return accounts_.Registrations(std::move(users));
    }
    for (int i = 0; i < users_; ++i) seed.push_back(RegOf(User(i)));
    for (int i = 0; i < users_; ++i) {
      for (int j = 1; j <= o_.buddies; ++j) seed.push_back(PairOf(proto::Verb::kAdd, User(i), User((i + j) % users_)));
    }
    return seed;
  }
  // Proven: phase j adds every user's j-th buddy, so one user's ADDs (whose counters must
  // arrive in order) never race each other on the seeding connections.
  std::vector<proto::Request> NextSeedPhase() override {
    std::vector<proto::Request> seed;
    if (!o_.proven || phase_ >= o_.buddies) return seed;
    ++phase_;
    for (int i = 0; i < users_; ++i) seed.push_back(accounts_.ProvenAdd(User(i), User((i + phase_) % users_)));
    return seed;
  }
  void OnSeedReply(size_t index, const std::string& reply) override {
    if (o_.proven && phase_ == 0) accounts_.OnRegistered(index, reply);
  }
  Request Next(int slot, uint64_t seq) override {
    int user = static_cast<int>(Mix(seq * 1315423911u + static_cast<uint64_t>(slot) + 1) % static_cast<uint64_t>(users_));
    Request r = GetRequest(proto::FormatGet(User(user)), o_.buddies);
    if (o_.proven) {
      r.prover = &accounts_;
      r.signed_as = {User(user)};
    }
    return r;
  }
 private:
  std::string User(int i) const {
    return o_.seeded_users > 0 ? o_.seeded_prefix + std::to_string(i) : o_.prefix + "g" + std::to_string(i);
  }
  ScenarioOptions o_;
  int users_;
  ProvenAccounts accounts_;
  int phase_ = 0;  // proven seeding: 0 while registering, then the buddy being added
};

// SETs in batches. SET has no reply, so each batch ends with a GET "fence": datagrams
// from one socket are handled in order, so the fence's reply proves the server got
// through the batch. The batch's last SET is for the slot's probe user with a port that
// changes every batch, and the fence asks for the slot's watcher, whose only buddy is the
// probe. The port it shows tells which SETs were applied: any SET sent more than
// kMaxLagMs before the fence and still not shown is a failure (docs/PROTOCOL.md promises
// presence within 1 s; a server may apply SETs a little after answering the fence).
class UdpSet : public Scenario {
 public:
  static constexpr uint64_t kMaxLagMs = 1000;

  explicit UdpSet(const ScenarioOptions& o)
      : o_(o),
        users_(o.seeded_users > 0 ? o.seeded_users : o.users),
        batch_(std::max(1, o.set_batch)),
        sent_(static_cast<size_t>(std::max(1, o.slots))) {}
  std::vector<proto::Request> SeedRequests() override {
    std::vector<proto::Request> seed;
    if (o_.proven) {
      std::vector<std::string> users;
      for (int i = 0; i < users_; ++i) users.push_back(User(i));
      for (int s = 0; s < o_.slots; ++s) {
        users.push_back(Probe(s));
        users.push_back(Watcher(s));
      }
      return accounts_.Registrations(std::move(users));
    }
    if (o_.seeded_users == 0) {
      for (int i = 0; i < users_; ++i) seed.push_back(RegOf(User(i)));
    }
    for (int s = 0; s < o_.slots; ++s) {
      seed.push_back(RegOf(Probe(s)));
      seed.push_back(RegOf(Watcher(s)));
      seed.push_back(PairOf(proto::Verb::kAdd, Watcher(s), Probe(s)));
    }
    return seed;
  }
  std::vector<proto::Request> NextSeedPhase() override {
    std::vector<proto::Request> seed;
    if (!o_.proven || linked_) return seed;
    linked_ = true;
    for (int s = 0; s < o_.slots; ++s) seed.push_back(accounts_.ProvenAdd(Watcher(s), Probe(s)));
    return seed;
  }
  void OnSeedReply(size_t index, const std::string& reply) override {
    if (o_.proven && !linked_) accounts_.OnRegistered(index, reply);
  }
  Request Next(int slot, uint64_t seq) override {
    Request r = GetRequest(proto::FormatGet(Watcher(slot)), 1);
    for (int i = 1; i < batch_; ++i) {
      uint64_t pick = Mix((seq * static_cast<uint64_t>(batch_) + static_cast<uint64_t>(i)) * 2654435761u +
                          static_cast<uint64_t>(slot) + 1);
      int user = static_cast<int>(pick % static_cast<uint64_t>(users_));
      r.pre_datagrams.push_back(proto::FormatSet(User(user), true, static_cast<uint16_t>(20000 + user % 40000)));
      r.signed_as.push_back(User(user));
    }
    r.pre_datagrams.push_back(proto::FormatSet(Probe(slot), true, PortOf(seq)));
    r.signed_as.push_back(Probe(slot));
    r.signed_as.push_back(Watcher(slot));
    if (o_.proven) r.prover = &accounts_;
    r.weight = static_cast<uint32_t>(batch_);
    r.tag = seq;
    r.slot = slot;
    Remember(slot, seq);
    return r;
  }
  bool Check(const Request& request, const std::string& reply, std::string* why) override {
    if (!ReplyMatches(request, reply, why) || request.slot < 0 || request.slot >= o_.slots) return false;
    proto::BuddyStatus b = proto::ParseGetReply(reply).buddies[0];
    if (b.id != Probe(request.slot)) {
      *why = "fence lists " + b.id + ", expected " + Probe(request.slot);
      return false;
    }
    // The oldest SET of the probe not reflected in the reply.
    uint64_t oldest_missing = 0;
    if (b.online) {
      if (b.msg_port < kFirstPort || b.msg_port >= kFirstPort + kPorts) {
        *why = "probe port " + std::to_string(b.msg_port) + " was never sent";
        return false;
      }
      uint64_t behind = (PortOf(request.tag) + kPorts - b.msg_port) % kPorts;
      if (behind > request.tag) {
        *why = "probe port " + std::to_string(b.msg_port) + " was never sent";
        return false;
      }
      if (behind == 0) return true;
      oldest_missing = request.tag - behind + 1;
    }
    uint64_t sent_ms;
    if (!SentAt(request.slot, oldest_missing, &sent_ms) || Now() - sent_ms > kMaxLagMs) {
      *why = std::string(b.online ? "probe shows an old port" : "probe still offline") + ": a SET sent over " +
             std::to_string(kMaxLagMs) + " ms ago is not applied";
      return false;
    }
    return true;
  }
 private:
  static constexpr uint64_t kFirstPort = 1024, kPorts = 60000;
  static constexpr size_t kMaxRemembered = 100000;  // per slot; older batches count as too old
  // Send times of a slot's recent batches: times[i] is batch first + i.
  struct SentTimes {
    uint64_t first = 0;
    std::deque<uint64_t> times;
  };
  static uint16_t PortOf(uint64_t seq) { return static_cast<uint16_t>(kFirstPort + seq % kPorts); }
  uint64_t Now() const {
    if (o_.clock_ms) return o_.clock_ms();
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }
  void Remember(int slot, uint64_t seq) {
    SentTimes& s = sent_[static_cast<size_t>(slot)];
    uint64_t now = Now();
    if (s.times.empty() || seq != s.first + s.times.size()) {
      s.times.clear();
      s.first = seq;
    }
    s.times.push_back(now);
    // Keep what a check can still need: up to kMaxLagMs plus a margin, never unbounded.
    while (s.times.size() > kMaxRemembered || (s.times.size() > 1 && now - s.times.front() > 4 * kMaxLagMs)) {
      s.times.pop_front();
      ++s.first;
    }
  }
  bool SentAt(int slot, uint64_t seq, uint64_t* ms) const {
    const SentTimes& s = sent_[static_cast<size_t>(slot)];
    if (seq < s.first || seq >= s.first + s.times.size()) return false;
    *ms = s.times[static_cast<size_t>(seq - s.first)];
    return true;
  }
  std::string User(int i) const {
    return o_.seeded_users > 0 ? o_.seeded_prefix + std::to_string(i) : o_.prefix + "s" + std::to_string(i);
  }
  std::string Probe(int slot) const { return o_.prefix + "sp" + std::to_string(slot); }
  std::string Watcher(int slot) const { return o_.prefix + "sw" + std::to_string(slot); }
  ScenarioOptions o_;
  int users_;
  int batch_;
  std::vector<SentTimes> sent_;  // per slot
  ProvenAccounts accounts_;
  bool linked_ = false;  // proven seeding: the watchers' ADDs have been sent
};

// A realistic population: each slot is one user with `buddies` buddies who sends SET and
// GET every interval, and now and then adds and drops a buddy.
class Mixed : public Scenario {
 public:
  explicit Mixed(const ScenarioOptions& o)
      : o_(o), users_(std::max(o.slots, o.buddies + 2)), steps_(static_cast<size_t>(o.slots), 0) {}
  std::vector<proto::Request> SeedRequests() override {
    std::vector<proto::Request> seed;
    for (int i = 0; i < users_; ++i) seed.push_back(RegOf(User(i)));
    for (int i = 0; i < users_; ++i) {
      for (int j = 1; j <= o_.buddies; ++j) seed.push_back(PairOf(proto::Verb::kAdd, User(i), User((i + j) % users_)));
    }
    return seed;
  }
  Request Next(int slot, uint64_t) override {
    uint64_t& step_no = steps_[static_cast<size_t>(slot)];
    std::string me = User(slot);
    for (;;) {
      uint64_t round = step_no / 4, step = step_no % 4;
      ++step_no;
      if (step == 0) {  // the heartbeat, paced
        Request r = UnansweredDatagram(proto::FormatSet(me, true, static_cast<uint16_t>(30000 + slot)));
        r.pause_ms = round == 0 ? 0 : o_.interval_ms;
        return r;
      }
      if (step == 1) {
        return GetRequest(proto::FormatGet(me), o_.buddies);
      }
      // Every 10th round: add a buddy beyond the fixed ones, then drop it again.
      if (round % 10 == 0) {
        std::string other = User((slot + o_.buddies + 1) % users_);
        return AccountRequest(PairOf(step == 2 ? proto::Verb::kAdd : proto::Verb::kDel, me, other), proto::Reply::kOk);
      }
    }
  }
 private:
  std::string User(int i) const { return o_.prefix + "m" + std::to_string(i); }
  ScenarioOptions o_;
  int users_;
  std::vector<uint64_t> steps_;  // per slot: where it is in its SET, GET, ADD, DEL round
};

class Raw : public Scenario {
 public:
  explicit Raw(const ScenarioOptions& o) : line_(o.raw_line + "\r\n"), expect_(o.raw_expect) {}
  Request Next(int, uint64_t) override { return RawRequest(line_, expect_); }
 private:
  std::string line_, expect_;
};

}  // namespace

Request AccountRequest(const proto::Request& request, proto::Reply expect) {
  Request r = SeedRequest(request);
  r.expect = expect;
  return r;
}

Request SeedRequest(const proto::Request& request) {
  Request r;
  r.bytes = proto::FormatRequest(request);
  r.verb = request.verb;
  return r;
}

Request RawRequest(std::string line, std::string expect_prefix) {
  Request r;
  r.bytes = std::move(line);
  r.expect_prefix = std::move(expect_prefix);
  return r;
}

Request GetRequest(std::string datagram, int buddies) {
  Request r;
  r.udp = true;
  r.bytes = std::move(datagram);
  r.expect_buddies = buddies;
  return r;
}

Request UnansweredDatagram(std::string datagram) {
  Request r;
  r.udp = true;
  r.bytes = std::move(datagram);
  r.expect_reply = false;
  return r;
}

std::unique_ptr<Scenario> MakeScenario(const ScenarioOptions& o, std::string* error) {
  if (o.name == "reg") return std::make_unique<Reg>(o);
  if (o.name == "login") return std::make_unique<Login>(o);
  if (o.name == "add") return std::make_unique<AddDel>(o);
  if (o.proven && (o.seeded_users > 0 || (o.name != "udp-get" && o.name != "udp-set"))) {
    *error = "--proven needs udp-get or udp-set on users registered over TCP (not --seeded-users)";
    return nullptr;
  }
  if (o.name == "udp-get") return std::make_unique<UdpGet>(o);
  if (o.name == "udp-set") return std::make_unique<UdpSet>(o);
  if (o.name == "mixed") return std::make_unique<Mixed>(o);
  if (o.name == "raw") {
    if (o.raw_line.empty() || o.raw_expect.empty()) {
      *error = "the raw scenario needs --line and --expect";
      return nullptr;
    }
    return std::make_unique<Raw>(o);
  }
  *error = "unknown scenario " + o.name + " (reg, login, add, udp-get, udp-set, mixed, raw)";
  return nullptr;
}

bool Scenario::Check(const Request& request, const std::string& reply, std::string* why) {
  return ReplyMatches(request, reply, why);
}

bool ReplyMatches(const Request& request, const std::string& reply, std::string* why) {
  if (request.expect_buddies >= 0) {
    proto::GetReply parsed = proto::ParseGetReply(reply);
    if (parsed.kind != proto::GetReply::Kind::kBuddies) {
      *why = "not a buddy list";
      return false;
    }
    if (static_cast<int>(parsed.buddies.size()) != request.expect_buddies) {
      *why = std::to_string(parsed.buddies.size()) + " buddies, expected " + std::to_string(request.expect_buddies);
      return false;
    }
    return true;
  }
  if (request.verb) {
    // Only the code decides, so a reply worded differently still counts (proto::ParseReply).
    std::optional<proto::Reply> got = proto::ParseReply(reply, proto::RepliesFor(*request.verb));
    bool ok = request.expect ? got == request.expect : got && proto::ReplyCode(*got) / 100 == 2;
    if (!ok) *why = request.expect ? "expected " + std::to_string(proto::ReplyCode(*request.expect)) : "expected 2xx";
    return ok;
  }
  if (reply.rfind(request.expect_prefix, 0) != 0) {
    *why = "expected " + request.expect_prefix;
    return false;
  }
  return true;
}

}  // namespace im::loadgen
