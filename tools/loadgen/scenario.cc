#include "tools/loadgen/scenario.h"

#include "proto/presence.h"

namespace im::loadgen {
namespace {

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
    return {false, "REG " + o_.prefix + "r" + std::to_string(slot) + "_" + std::to_string(seq) + "\n", true, "200"};
  }
 private:
  ScenarioOptions o_;
};

// ADD then DEL of the same pair, so every request must answer 200. Slot s owns user s as
// the list owner, so no two slots race on one list.
class AddDel : public Scenario {
 public:
  explicit AddDel(const ScenarioOptions& o) : o_(o), users_(std::max(o.users, o.slots + 1)) {}
  std::vector<std::string> SeedLines() override {
    std::vector<std::string> lines;
    for (int i = 0; i < users_; ++i) lines.push_back("REG " + User(i) + "\n");
    return lines;
  }
  Request Next(int slot, uint64_t seq) override {
    int partner = (slot + 1 + static_cast<int>((seq / 2) % static_cast<uint64_t>(users_ - 1))) % users_;
    if (partner == slot) partner = (partner + 1) % users_;
    std::string verb = seq % 2 == 0 ? "ADD " : "DEL ";
    return {false, verb + User(slot) + " " + User(partner) + "\n", true, "200"};
  }
 private:
  std::string User(int i) const { return o_.prefix + "a" + std::to_string(i); }
  ScenarioOptions o_;
  int users_;
};

// GET for users who each have exactly `buddies` buddies.
class UdpGet : public Scenario {
 public:
  explicit UdpGet(const ScenarioOptions& o) : o_(o), users_(std::max(o.users, o.buddies + 1)) {}
  std::vector<std::string> SeedLines() override {
    std::vector<std::string> lines;
    for (int i = 0; i < users_; ++i) lines.push_back("REG " + User(i) + "\n");
    for (int i = 0; i < users_; ++i) {
      for (int j = 1; j <= o_.buddies; ++j) lines.push_back("ADD " + User(i) + " " + User((i + j) % users_) + "\n");
    }
    return lines;
  }
  Request Next(int slot, uint64_t seq) override {
    int user = static_cast<int>(Mix(seq * 1315423911u + static_cast<uint64_t>(slot) + 1) % static_cast<uint64_t>(users_));
    Request r{true, "GET " + User(user) + "\n", true, ""};
    r.expect_buddies = o_.buddies;
    return r;
  }
 private:
  std::string User(int i) const { return o_.prefix + "g" + std::to_string(i); }
  ScenarioOptions o_;
  int users_;
};

class UdpSet : public Scenario {
 public:
  explicit UdpSet(const ScenarioOptions& o) : o_(o) {}
  std::vector<std::string> SeedLines() override {
    std::vector<std::string> lines;
    for (int i = 0; i < o_.users; ++i) lines.push_back("REG " + User(i) + "\n");
    return lines;
  }
  Request Next(int slot, uint64_t seq) override {
    int user = static_cast<int>(Mix(seq * 2654435761u + static_cast<uint64_t>(slot) + 1) % static_cast<uint64_t>(o_.users));
    Request r{true, "SET " + User(user) + " ONLINE " + std::to_string(20000 + user % 40000) + "\n", false, ""};
    return r;
  }
 private:
  std::string User(int i) const { return o_.prefix + "s" + std::to_string(i); }
  ScenarioOptions o_;
};

// A realistic population: each slot is one user with `buddies` buddies who sends SET and
// GET every interval, and now and then adds and drops a buddy.
class Mixed : public Scenario {
 public:
  explicit Mixed(const ScenarioOptions& o)
      : o_(o), users_(std::max(o.slots, o.buddies + 2)), steps_(static_cast<size_t>(o.slots), 0) {}
  std::vector<std::string> SeedLines() override {
    std::vector<std::string> lines;
    for (int i = 0; i < users_; ++i) lines.push_back("REG " + User(i) + "\n");
    for (int i = 0; i < users_; ++i) {
      for (int j = 1; j <= o_.buddies; ++j) lines.push_back("ADD " + User(i) + " " + User((i + j) % users_) + "\n");
    }
    return lines;
  }
  Request Next(int slot, uint64_t) override {
    uint64_t& step_no = steps_[static_cast<size_t>(slot)];
    std::string me = User(slot);
    for (;;) {
      uint64_t round = step_no / 4, step = step_no % 4;
      ++step_no;
      if (step == 0) {  // the heartbeat, paced
        Request r{true, "SET " + me + " ONLINE " + std::to_string(30000 + slot) + "\n", false, ""};
        r.pause_ms = round == 0 ? 0 : o_.interval_ms;
        return r;
      }
      if (step == 1) {
        Request r{true, "GET " + me + "\n", true, ""};
        r.expect_buddies = o_.buddies;
        return r;
      }
      // Every 10th round: add a buddy beyond the fixed ones, then drop it again.
      if (round % 10 == 0) {
        std::string other = User((slot + o_.buddies + 1) % users_);
        return {false, (step == 2 ? "ADD " : "DEL ") + me + " " + other + "\n", true, "200"};
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
  Request Next(int, uint64_t) override { return {false, line_, true, expect_}; }
 private:
  std::string line_, expect_;
};

}  // namespace

std::unique_ptr<Scenario> MakeScenario(const ScenarioOptions& o, std::string* error) {
  if (o.name == "reg") return std::make_unique<Reg>(o);
  if (o.name == "add") return std::make_unique<AddDel>(o);
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
  *error = "unknown scenario " + o.name + " (reg, add, udp-get, udp-set, mixed, raw)";
  return nullptr;
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
  if (reply.rfind(request.expect_prefix, 0) != 0) {
    *why = "expected " + request.expect_prefix;
    return false;
  }
  return true;
}

}  // namespace im::loadgen
