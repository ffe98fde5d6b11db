// What each scenario sends and how it judges replies: pure, no sockets.
#include "tools/loadgen/scenario.h"

#include <gtest/gtest.h>

#include <set>

namespace im::loadgen {
namespace {

std::unique_ptr<Scenario> Make(ScenarioOptions o) {
  std::string error;
  auto s = MakeScenario(o, &error);
  EXPECT_TRUE(s) << error;
  return s;
}

ScenarioOptions Opts(const std::string& name) {
  ScenarioOptions o;
  o.name = name;
  o.prefix = "T_";
  return o;
}

TEST(Scenario, UnknownNameAndRawWithoutLineAreRejected) {
  std::string error;
  EXPECT_EQ(MakeScenario(Opts("nope"), &error), nullptr);
  EXPECT_NE(error.find("unknown scenario"), std::string::npos);
  EXPECT_EQ(MakeScenario(Opts("raw"), &error), nullptr);
  EXPECT_NE(error.find("--line"), std::string::npos);
}

TEST(Scenario, RegNeverRepeatsAUserAcrossSlots) {
  auto s = Make(Opts("reg"));
  std::set<std::string> lines;
  for (int slot = 0; slot < 20; ++slot) {
    for (uint64_t seq = 0; seq < 50; ++seq) {
      Request r = s->Next(slot, seq);
      EXPECT_FALSE(r.udp);
      EXPECT_EQ(r.verb, proto::Verb::kReg);
      EXPECT_EQ(r.expect, proto::Reply::kOk);
      lines.insert(r.bytes);
    }
  }
  EXPECT_EQ(lines.size(), 1000u);
}

// Few accounts (the server lets one address register only a burst with a password),
// each registered with the password while seeding, then logged in to by every slot.
TEST(Scenario, LoginSeedsAFewAccountsWithAPasswordAndExpects210) {
  auto s = Make(Opts("login"));
  std::vector<proto::Request> seed = s->SeedRequests();
  ASSERT_GT(seed.size(), 0u);
  EXPECT_LE(seed.size(), 20u);
  std::set<std::string> accounts;
  for (const proto::Request& r : seed) {
    EXPECT_EQ(r.verb, proto::Verb::kReg);
    EXPECT_EQ(r.password, kLoginPassword);
    accounts.insert(r.user);
  }
  for (int slot = 0; slot < 8; ++slot) {
    for (uint64_t seq = 0; seq < 40; ++seq) {
      Request r = s->Next(slot, seq);
      EXPECT_FALSE(r.udp);
      EXPECT_EQ(r.expect, proto::Reply::kLoggedIn);
      std::string user = r.bytes.substr(4, r.bytes.find(' ', 4) - 4);
      EXPECT_TRUE(accounts.count(user)) << r.bytes;
      EXPECT_EQ(r.bytes, "REG " + user + " " + kLoginPassword + "\n");
    }
  }
}

TEST(Scenario, AddAlternatesAddAndDelOfOnePairOwnedByTheSlot) {
  ScenarioOptions o = Opts("add");
  o.users = 5;
  o.slots = 8;  // more slots than users: the population grows to slots + 1
  auto s = Make(o);
  EXPECT_EQ(s->SeedRequests().size(), 9u);
  for (int slot = 0; slot < 8; ++slot) {
    for (uint64_t seq = 0; seq < 40; seq += 2) {
      Request add = s->Next(slot, seq), del = s->Next(slot, seq + 1);
      ASSERT_EQ(add.bytes.rfind("ADD T_a" + std::to_string(slot) + " ", 0), 0u) << add.bytes;
      EXPECT_EQ(del.bytes, "DEL" + add.bytes.substr(3));
      EXPECT_NE(add.bytes, "ADD T_a" + std::to_string(slot) + " T_a" + std::to_string(slot) + "\n");
    }
  }
}

TEST(Scenario, UdpGetSeedsBuddiesOrUsesTheSeededPopulation) {
  ScenarioOptions o = Opts("udp-get");
  o.users = 20;
  o.buddies = 3;
  auto s = Make(o);
  EXPECT_EQ(s->SeedRequests().size(), 20u + 20u * 3u);
  Request r = s->Next(0, 0);
  EXPECT_TRUE(r.udp);
  EXPECT_EQ(r.expect_buddies, 3);
  std::string why;
  EXPECT_TRUE(s->Check(r, "a 100 ONLINE 127.0.0.1 5\nb 101 OFFLINE unknown 0\nc 101 OFFLINE unknown 0\n", &why));
  EXPECT_FALSE(s->Check(r, "a 101 OFFLINE unknown 0\n", &why));
  EXPECT_NE(why.find("1 buddies, expected 3"), std::string::npos) << why;
  EXPECT_FALSE(s->Check(r, "202 NO SUCH USER\n", &why));

  o.seeded_users = 1000000;
  auto seeded = Make(o);
  EXPECT_TRUE(seeded->SeedRequests().empty());
  std::set<std::string> users;
  for (uint64_t i = 0; i < 1000; ++i) users.insert(seeded->Next(static_cast<int>(i % 7), i).bytes);
  EXPECT_GT(users.size(), 990u);  // spread over the population
  EXPECT_EQ(users.begin()->rfind("GET seed", 0), 0u);
}

uint64_t g_fake_ms = 0;
uint64_t FakeClock() { return g_fake_ms; }

TEST(Scenario, UdpSetBatchEndsWithAProbeSetAndAFenceGet) {
  ScenarioOptions o = Opts("udp-set");
  o.users = 10;
  o.slots = 2;
  o.set_batch = 4;
  o.clock_ms = FakeClock;
  auto s = Make(o);
  EXPECT_EQ(s->SeedRequests().size(), 10u + 2u * 3u);
  EXPECT_EQ(proto::FormatRequest(s->SeedRequests().back()), "ADD T_sw1 T_sp1\n");
  g_fake_ms = 10000;
  std::vector<Request> batches;
  for (uint64_t seq = 0; seq <= 5; ++seq, g_fake_ms += 100) batches.push_back(s->Next(1, seq));
  // Batch 5 went out at 10500 ms.
  const Request& r = batches[5];
  EXPECT_EQ(r.weight, 4u);
  ASSERT_EQ(r.pre_datagrams.size(), 4u);
  EXPECT_EQ(r.pre_datagrams.back(), "SET T_sp1 ONLINE 1029\n");
  EXPECT_EQ(r.bytes, "GET T_sw1\n");
  std::string why;
  g_fake_ms = 10600;
  EXPECT_TRUE(s->Check(r, "T_sp1 100 ONLINE 127.0.0.1 1029\n", &why)) << why;  // this batch's SET
  EXPECT_TRUE(s->Check(r, "T_sp1 100 ONLINE 127.0.0.1 1025\n", &why)) << why;  // batch 1: 2-5 sent < 1 s ago
  EXPECT_TRUE(s->Check(r, "T_sp1 101 OFFLINE unknown 0\n", &why)) << why;      // batch 0 sent 600 ms ago
  EXPECT_FALSE(s->Check(r, "T_sp1 100 ONLINE 127.0.0.1 1030\n", &why));        // a batch never sent
  EXPECT_NE(why.find("never sent"), std::string::npos) << why;
  EXPECT_FALSE(s->Check(r, "T_sp0 100 ONLINE 127.0.0.1 1029\n", &why));        // someone else's probe
  EXPECT_FALSE(s->Check(r, "a 100 ONLINE 127.0.0.1 1029\nb 100 ONLINE 127.0.0.1 1\n", &why));
  // 1.2 s later, a reply still missing batch 2 (sent at 10200) is too stale.
  g_fake_ms = 11300;
  EXPECT_FALSE(s->Check(r, "T_sp1 100 ONLINE 127.0.0.1 1025\n", &why));
  EXPECT_NE(why.find("not applied"), std::string::npos) << why;
  EXPECT_TRUE(s->Check(r, "T_sp1 100 ONLINE 127.0.0.1 1028\n", &why)) << why;  // batch 5 sent 800 ms ago
  EXPECT_FALSE(s->Check(r, "T_sp1 101 OFFLINE unknown 0\n", &why));
  EXPECT_NE(why.find("still offline"), std::string::npos) << why;
}

TEST(Scenario, MixedPacesHeartbeatsAndValidatesGets) {
  ScenarioOptions o = Opts("mixed");
  o.slots = 4;
  o.buddies = 2;
  o.interval_ms = 200;
  auto s = Make(o);
  Request first = s->Next(0, 0);
  EXPECT_EQ(first.bytes.rfind("SET T_m0 ONLINE", 0), 0u);
  EXPECT_EQ(first.pause_ms, 0u);
  EXPECT_FALSE(first.expect_reply);
  Request get = s->Next(0, 1);
  EXPECT_EQ(get.bytes, "GET T_m0\n");
  EXPECT_EQ(get.expect_buddies, 2);
  EXPECT_EQ(s->Next(0, 2).bytes.rfind("ADD ", 0), 0u);
  EXPECT_EQ(s->Next(0, 3).bytes.rfind("DEL ", 0), 0u);
  EXPECT_EQ(s->Next(0, 4).pause_ms, 200u);
}

TEST(Scenario, AccountRepliesAreReadByCode) {
  proto::Request add;
  add.verb = proto::Verb::kAdd;
  add.user = "a";
  add.buddy = "b";
  Request r = AccountRequest(add, proto::Reply::kOk);
  EXPECT_EQ(r.bytes, "ADD a b\n");
  std::string why;
  EXPECT_TRUE(ReplyMatches(r, "200 OK", &why));
  EXPECT_TRUE(ReplyMatches(r, "200 FINE\r", &why));  // worded differently, same code
  EXPECT_FALSE(ReplyMatches(r, "201 ALREADY BUDDY", &why));
  EXPECT_EQ(why, "expected 200");
  EXPECT_FALSE(ReplyMatches(r, "200garbage", &why));
  Request seed = SeedRequest(add);
  EXPECT_TRUE(ReplyMatches(seed, "201 ALREADY BUDDY", &why));
  EXPECT_FALSE(ReplyMatches(seed, "400 BAD REQUEST", &why));
  EXPECT_FALSE(ReplyMatches(seed, "", &why));
}

TEST(Scenario, RawExpectsThePrefix) {
  ScenarioOptions o = Opts("raw");
  o.raw_line = "SET key value";
  o.raw_expect = "+OK";
  auto s = Make(o);
  Request r = s->Next(0, 0);
  EXPECT_EQ(r.bytes, "SET key value\r\n");
  std::string why;
  EXPECT_TRUE(s->Check(r, "+OK", &why));
  EXPECT_FALSE(s->Check(r, "-ERR", &why));
  EXPECT_EQ(why, "expected +OK");
}

}  // namespace
}  // namespace im::loadgen
