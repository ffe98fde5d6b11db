// The Redis presence engine in-process against a real redis-server (tests/support/redis.h):
// the record format, the URL parsing, writes and one-round-trip reads, the Lua compare
// ("never overwrite a newer heartbeat", future stamps clamped, unproven never over proven),
// the TTL as expiry, and trouble: Redis killed (reads fail at once, writes are counted as
// dropped, the engine reconnects by itself) and Redis hung (the command timeout).
#include "server/redis_presence.h"

#include <signal.h>

#include <chrono>

#include <gtest/gtest.h>

#include "tests/support/redis.h"
#include "tests/support/test_loop.h"

namespace im::server {
namespace {

using test::Redis;

TEST(RedisRecord, RoundTripsEveryField) {
  Presence p{true, "2001:db8::1", 40123, 1700000000123, true};
  Presence back;
  ASSERT_TRUE(DecodePresence(EncodePresence(p), &back));
  EXPECT_EQ(back.online, p.online);
  EXPECT_EQ(back.ip, p.ip);
  EXPECT_EQ(back.port, p.port);
  EXPECT_EQ(back.updated_ms, p.updated_ms);
  EXPECT_EQ(back.proven, p.proven);
  // A newer writer's extra field is ignored; a record of another version is refused.
  EXPECT_TRUE(DecodePresence(EncodePresence(p) + "|chatkey", &back));
  EXPECT_EQ(back.ip, p.ip);
  EXPECT_FALSE(DecodePresence("v2|1|1|1|1|x", &back));
  EXPECT_FALSE(DecodePresence("v1|x|1|1|1|1.2.3.4", &back));
  EXPECT_FALSE(DecodePresence("v1|1|1", &back));
}

TEST(RedisRecord, CarriesTheChatKeyAndTheProofStamp) {
  Presence p{true, "127.0.0.1", 7000, 1700000000123, true, "KKKKKKKKKKKKKKKKKKKKKK", "sessionSSSSSSSSSSSSSSS", 42};
  Presence back;
  ASSERT_TRUE(DecodePresence(EncodePresence(p), &back));
  EXPECT_EQ(back.chat_key, p.chat_key);
  EXPECT_EQ(back.proof_session, p.proof_session);
  EXPECT_EQ(back.proof_counter, 42u);
  p.chat_key.clear();  // a stamp without a key keeps its place
  ASSERT_TRUE(DecodePresence(EncodePresence(p), &back));
  EXPECT_EQ(back.chat_key, "");
  EXPECT_EQ(back.proof_counter, 42u);
  EXPECT_FALSE(DecodePresence("v1|1|1|1|1|1.2.3.4||s=abc.x", &back));
}

TEST(RedisUrl, AcceptsAddressesAndSocketsRefusesNames) {
  RedisAddress a;
  std::string error;
  ASSERT_TRUE(ParseRedisUrl("redis://127.0.0.1:6380", &a, &error)) << error;
  EXPECT_EQ(a.ip, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  ASSERT_TRUE(ParseRedisUrl("redis://[::1]:7000", &a, &error)) << error;
  EXPECT_EQ(a.ip, "::1");
  EXPECT_EQ(a.port, 7000);
  ASSERT_TRUE(ParseRedisUrl("redis://10.0.0.5", &a, &error)) << error;
  EXPECT_EQ(a.port, 6379);
  ASSERT_TRUE(ParseRedisUrl("redis+unix:///run/redis.sock", &a, &error)) << error;
  EXPECT_EQ(a.unix_path, "/run/redis.sock");
  EXPECT_FALSE(ParseRedisUrl("redis://localhost:6379", &a, &error));
  EXPECT_NE(error.find("not a numeric IP"), std::string::npos) << error;
  EXPECT_FALSE(ParseRedisUrl("redis://127.0.0.1:99999", &a, &error));
  EXPECT_FALSE(ParseRedisUrl("redis+unix://relative.sock", &a, &error));
  EXPECT_FALSE(ParseRedisUrl("memcached://127.0.0.1", &a, &error));
}

// A GET's presence read, answered into this object.
class Lookup final : public PresenceQuery {
 public:
  explicit Lookup(std::vector<std::string> ids, std::vector<bool> protected_ids = {}) {
    for (size_t i = 0; i < ids.size(); ++i) {
      BuddyRow row;
      row.id = ids[i];
      row.is_protected = i < protected_ids.size() && protected_ids[i];
      rows.push_back(row);
    }
    presence_rows = &rows;
  }
  void OnPresenceRead() override { ++answers; }
  std::vector<BuddyRow> rows;
  int answers = 0;
};

class RedisPresenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = Redis::Start();
    ASSERT_TRUE(redis_) << "redis-server must start for these tests";
    RedisAddress address;
    std::string error;
    ASSERT_TRUE(ParseRedisUrl(redis_->Url(), &address, &error)) << error;
    engine_ = std::make_unique<RedisPresence>(loop_.get(), address, 30000);
    engine_->Start();
    ASSERT_TRUE(RunUntil([&] { return engine_->connected(); }, 3000)) << engine_->Stats();
  }
  void TearDown() override {
    if (engine_) engine_->Close();
  }
  // Runs the loop until `done` (bounded).
  template <typename F>
  bool RunUntil(F done, int timeout_ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      uv_run(loop_.get(), UV_RUN_NOWAIT);
      usleep(1000);
    }
    return true;
  }
  void Write(const std::string& user, Presence p, int64_t now_ms) {
    PresenceMap m;
    m.emplace(user, std::move(p));
    uint64_t before = engine_->counters().written + engine_->counters().stale + engine_->counters().dropped;
    engine_->Write(m, now_ms);
    ASSERT_TRUE(RunUntil([&] {
      return engine_->counters().written + engine_->counters().stale + engine_->counters().dropped > before;
    }, 3000));
  }
  Lookup Read(std::vector<std::string> ids, std::vector<bool> protected_ids = {}) {
    Lookup lookup(std::move(ids), std::move(protected_ids));
    engine_->Read(&lookup);
    EXPECT_TRUE(RunUntil([&] { return lookup.answers > 0; }, 3000));
    EXPECT_EQ(lookup.answers, 1);
    return lookup;
  }

  test::TestLoop loop_;
  std::unique_ptr<Redis> redis_;
  std::unique_ptr<RedisPresence> engine_;
};

TEST_F(RedisPresenceTest, WritesAndReadsInOneRoundTrip) {
  Write("alice", {true, "127.0.0.1", 4000, 1000, false}, 1000);
  Write("bob", {false, "127.0.0.2", 5000, 1000, true}, 1000);
  Lookup l = Read({"alice", "bob", "carol"});
  ASSERT_TRUE(l.presence_status.ok()) << l.presence_status.message();
  ASSERT_TRUE(l.rows[0].has_presence);
  EXPECT_TRUE(l.rows[0].presence.online);
  EXPECT_EQ(l.rows[0].presence.ip, "127.0.0.1");
  EXPECT_EQ(l.rows[0].presence.port, 4000);
  ASSERT_TRUE(l.rows[1].has_presence);
  EXPECT_FALSE(l.rows[1].presence.online);
  EXPECT_TRUE(l.rows[1].presence.proven);
  EXPECT_FALSE(l.rows[2].has_presence);
  EXPECT_EQ(engine_->counters().reads, 1u);
  // The TTL is the key's expiry.
  std::string ttl;
  ASSERT_TRUE(redis_->Cli("PTTL im:presence:alice", &ttl));
  EXPECT_GT(std::stoll(ttl), 20000) << ttl;
  EXPECT_LE(std::stoll(ttl), 30000) << ttl;
}

TEST_F(RedisPresenceTest, NeverOverwritesANewerHeartbeat) {
  Write("alice", {true, "127.0.0.1", 2000, 2000, false}, 2000);
  Write("alice", {true, "127.0.0.1", 1000, 1000, false}, 2000);  // older: refused
  EXPECT_EQ(engine_->counters().stale, 1u);
  EXPECT_EQ(Read({"alice"}).rows[0].presence.port, 2000);
  Write("alice", {true, "127.0.0.1", 3000, 3000, false}, 3000);  // newer: taken
  EXPECT_EQ(Read({"alice"}).rows[0].presence.port, 3000);
  // A stamp from a clock far ahead counts as "now": the next real heartbeat replaces it.
  Write("alice", {true, "127.0.0.1", 9999, 999999, false}, 4000);
  Write("alice", {true, "127.0.0.1", 5000, 5000, false}, 5000);
  EXPECT_EQ(Read({"alice"}).rows[0].presence.port, 5000);
}

TEST_F(RedisPresenceTest, AnOlderHeartbeatFromAnotherBackendNeverWins) {
  // Backend B writes a heartbeat stamped 2000; backend A, which received an older one
  // (stamped 1000) and held it in its write-behind delay, writes it afterwards.
  RedisAddress address;
  std::string error;
  ASSERT_TRUE(ParseRedisUrl(redis_->Url(), &address, &error));
  RedisPresence other(loop_.get(), address, 30000);
  other.Start();
  ASSERT_TRUE(RunUntil([&] { return other.connected(); }, 3000));
  PresenceMap newer;
  newer.emplace("alice", Presence{true, "127.0.0.2", 2222, 2000, false});
  other.Write(newer, 2000);
  ASSERT_TRUE(RunUntil([&] { return other.counters().written == 1; }, 3000));
  Write("alice", {true, "127.0.0.1", 1111, 1000, false}, 2100);
  EXPECT_EQ(engine_->counters().stale, 1u);
  EXPECT_EQ(Read({"alice"}).rows[0].presence.port, 2222);
  other.Close();
}

TEST_F(RedisPresenceTest, UnprovenNeverReplacesProvenNorSpeaksForProtected) {
  Write("alice", {true, "127.0.0.1", 1000, 1000, true}, 1000);
  Write("alice", {true, "10.9.9.9", 6666, 2000, false}, 2000);  // a stranger's, newer: refused
  Lookup l = Read({"alice"}, {true});
  ASSERT_TRUE(l.rows[0].has_presence);
  EXPECT_EQ(l.rows[0].presence.port, 1000);
  // With no proven record a stranger's is stored (Redis has no accounts) but never shown
  // for a protected user.
  Write("carol", {true, "10.9.9.9", 6666, 2000, false}, 2000);
  EXPECT_FALSE(Read({"carol"}, {true}).rows[0].has_presence);
  EXPECT_TRUE(Read({"carol"}, {false}).rows[0].has_presence);
}

TEST_F(RedisPresenceTest, SurvivesAScriptFlush) {
  ASSERT_TRUE(redis_->Cli("SCRIPT FLUSH"));
  Write("alice", {true, "127.0.0.1", 1234, 1000, false}, 1000);  // NOSCRIPT, then EVAL
  EXPECT_EQ(engine_->counters().written, 1u);
  EXPECT_EQ(Read({"alice"}).rows[0].presence.port, 1234);
}

TEST_F(RedisPresenceTest, RedisKilledFailsFastAndComesBack) {
  Write("alice", {true, "127.0.0.1", 1000, 1000, false}, 1000);
  redis_->Kill();
  ASSERT_TRUE(RunUntil([&] { return !engine_->connected(); }, 3000));
  auto started = std::chrono::steady_clock::now();
  Lookup l = Read({"alice"});
  EXPECT_FALSE(l.presence_status.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(100));
  PresenceMap m;
  m.emplace("alice", Presence{true, "127.0.0.1", 2000, 2000, false});
  uint64_t dropped = engine_->counters().dropped;
  engine_->Write(m, 2000);
  EXPECT_EQ(engine_->counters().dropped, dropped + 1);
  ASSERT_TRUE(redis_->Restart());
  ASSERT_TRUE(RunUntil([&] { return engine_->connected(); }, 8000)) << engine_->Stats();
  EXPECT_GE(engine_->counters().reconnects, 1u);
  // The restarted Redis is empty: presence returns with the next heartbeat.
  EXPECT_FALSE(Read({"alice"}).rows[0].has_presence);
  Write("alice", {true, "127.0.0.1", 3000, 3000, false}, 3000);
  EXPECT_EQ(Read({"alice"}).rows[0].presence.port, 3000);
}

TEST_F(RedisPresenceTest, HungRedisTimesOutTheCommand) {
  redis_->Pause(SIGSTOP);
  Lookup lookup({"alice"});
  auto started = std::chrono::steady_clock::now();
  engine_->Read(&lookup);
  EXPECT_TRUE(RunUntil([&] { return lookup.answers > 0; }, 3000));
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_FALSE(lookup.presence_status.ok());
  EXPECT_GE(waited, std::chrono::milliseconds(RedisPresence::kCommandTimeoutMs - 50));
  EXPECT_LT(waited, std::chrono::milliseconds(RedisPresence::kCommandTimeoutMs + 500));
  EXPECT_EQ(engine_->counters().timeouts, 1u);
  redis_->Pause(SIGCONT);
  ASSERT_TRUE(RunUntil([&] { return engine_->connected(); }, 8000)) << engine_->Stats();
  Write("alice", {true, "127.0.0.1", 3000, 3000, false}, 3000);
  EXPECT_EQ(Read({"alice"}).rows[0].presence.port, 3000);
}

}  // namespace
}  // namespace im::server
