// im-server with --presence on a real redis-server (and a real PostgreSQL for the shared
// accounts), end to end: presence lands in Redis as one key per user; two backends
// sharing PostgreSQL + Redis see each other's SETs within a second; Redis killed under
// load (REG/ADD/DEL keep working, GET answers 500 fast, presence returns with the next
// heartbeats after the restart, im-server never restarted); a bad --presence refused.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/net.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/redis.h"

namespace im::test {
namespace {

using Clock = std::chrono::steady_clock;

class ServerRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = Redis::Start();
    ASSERT_TRUE(redis_) << "redis-server must start for these tests";
  }
  ServerHandle StartOnSqlite(const std::string& name) {
    ServerHandle s = StartServer(dir_.File("im.db"), dir_.File(name + ".log"), {"--presence", redis_->Url()});
    EXPECT_GT(s.tcp_port, 0);
    return s;
  }
  ServerHandle StartOnPg(const std::string& name) {
    if (!pg_) pg_ = Postgres::Start();
    EXPECT_TRUE(pg_) << "PostgreSQL must start for these tests";
    if (!pg_) return {};
    ServerHandle s = StartServer("", dir_.File(name + ".log"),
                                 {"--store", pg_->Url("postgres"), "--presence", redis_->Url()});
    EXPECT_GT(s.tcp_port, 0);
    return s;
  }
  // Asks until `want` is in the reply (bounded: `timeout_ms`).
  static std::string AskUntil(int port, const std::string& datagram, const std::string& want, int timeout_ms) {
    UdpClient udp;
    std::string reply;
    auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < end) {
      reply = udp.Ask(port, datagram, 200).value_or("");
      if (reply.find(want) != std::string::npos) return reply;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return reply;
  }

  TempDir dir_;
  std::unique_ptr<Redis> redis_;
  std::unique_ptr<Postgres> pg_;
};

TEST_F(ServerRedisTest, PresenceLivesInRedisOneKeyPerUser) {
  ServerHandle a = StartOnSqlite("a");
  ASSERT_TRUE(a.process->WaitForLog("redis: connected", 3000)) << a.process->Log();
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG alice"), "200 OK");
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG bob"), "200 OK");
  EXPECT_EQ(TcpRequest(a.tcp_port, "ADD alice bob"), "200 OK");
  UdpClient bob;
  bob.Send(a.udp_port, "SET bob ONLINE 40123");
  std::string reply = AskUntil(a.udp_port, "GET alice", "ONLINE", 2000);
  EXPECT_NE(reply.find("ONLINE 127.0.0.1 40123"), std::string::npos) << reply;
  // Written behind (GroupCommit::kPresenceFlushMs): this server's GET saw it waiting.
  std::string record;
  for (int i = 0; i < 100 && record.empty(); ++i) {
    ASSERT_TRUE(redis_->Cli("GET im:presence:bob", &record));
    if (record.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(record.rfind("v1|", 0), 0u) << record;
  EXPECT_NE(record.find("|1|40123|127.0.0.1"), std::string::npos) << record;
  std::string ttl;
  ASSERT_TRUE(redis_->Cli("PTTL im:presence:bob", &ttl));
  EXPECT_GT(std::stoll(ttl), 0) << "the TTL is the key's expiry";
  bob.Send(a.udp_port, "SET bob OFFLINE 40123");
  reply = AskUntil(a.udp_port, "GET alice", "OFFLINE", 2000);
  EXPECT_NE(reply.find("OFFLINE"), std::string::npos) << reply;
  a.process->Signal(SIGTERM);
  EXPECT_EQ(a.process->Wait(5000), 0) << a.process->Log();
  EXPECT_EQ(a.process->CountLog("exited cleanly"), 1) << a.process->Log();
  EXPECT_NE(a.process->Log().find("presence: redis up"), std::string::npos) << "the stats line" << a.process->Log();
}

TEST_F(ServerRedisTest, TwoBackendsOnPostgresAndRedisSeeEachOthersSetWithinASecond) {
  ServerHandle a = StartOnPg("a");
  ServerHandle b = StartOnPg("b");
  ASSERT_GT(a.tcp_port, 0);
  ASSERT_GT(b.tcp_port, 0);
  ASSERT_TRUE(a.process->WaitForLog("redis: connected", 3000)) << a.process->Log();
  ASSERT_TRUE(b.process->WaitForLog("redis: connected", 3000)) << b.process->Log();
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG alice"), "200 OK");
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG bob"), "200 OK");
  EXPECT_EQ(TcpRequest(b.tcp_port, "ADD alice bob"), "200 OK");
  UdpClient bob;
  auto sent = Clock::now();
  bob.Send(a.udp_port, "SET bob ONLINE 5555");
  std::string reply = AskUntil(b.udp_port, "GET alice", "ONLINE", 1000);
  EXPECT_NE(reply.find("ONLINE 127.0.0.1 5555"), std::string::npos) << reply;
  EXPECT_LT(Clock::now() - sent, std::chrono::seconds(1));
  // The newer SET wins whichever backend writes last: B's replaces A's, and A's older
  // one (replayed by nobody) cannot come back.
  bob.Send(b.udp_port, "SET bob ONLINE 6666");
  reply = AskUntil(a.udp_port, "GET alice", "6666", 1000);
  EXPECT_NE(reply.find("ONLINE 127.0.0.1 6666"), std::string::npos) << reply;
}

TEST_F(ServerRedisTest, RedisKilledUnderLoadAccountsWorkGetsFailFastPresenceReturns) {
  ServerHandle a = StartOnSqlite("a");
  ASSERT_TRUE(a.process->WaitForLog("redis: connected", 3000)) << a.process->Log();
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG alice"), "200 OK");
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG bob"), "200 OK");
  EXPECT_EQ(TcpRequest(a.tcp_port, "ADD alice bob"), "200 OK");
  // Heartbeats all along, as clients send them (bounded by the test's length).
  std::atomic<bool> stop{false};
  std::thread heartbeats([&] {
    UdpClient bob;
    for (int i = 0; i < 2000 && !stop; ++i) {
      bob.Send(a.udp_port, "SET bob ONLINE 7777");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  EXPECT_NE(AskUntil(a.udp_port, "GET alice", "ONLINE", 2000).find("ONLINE 127.0.0.1 7777"), std::string::npos);
  redis_->Kill();
  ASSERT_TRUE(a.process->WaitForLog("redis .*reconnecting", 3000)) << a.process->Log();
  // Accounts do not need Redis.
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG carol"), "200 OK");
  EXPECT_EQ(TcpRequest(a.tcp_port, "ADD alice carol"), "200 OK");
  EXPECT_EQ(TcpRequest(a.tcp_port, "DEL alice carol"), "200 OK");
  // GETs fail, and fast.
  UdpClient alice;
  auto asked = Clock::now();
  EXPECT_EQ(alice.Ask(a.udp_port, "GET alice", 2000).value_or("no answer"), "500 SERVER ERROR\n");
  EXPECT_LT(Clock::now() - asked, std::chrono::milliseconds(300));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(redis_->Restart());
  // The restarted Redis is empty; the next heartbeats bring bob back.
  std::string reply = AskUntil(a.udp_port, "GET alice", "ONLINE", 8000);
  EXPECT_NE(reply.find("ONLINE 127.0.0.1 7777"), std::string::npos) << reply << a.process->Log();
  stop = true;
  heartbeats.join();
  EXPECT_TRUE(a.process->Running());
  EXPECT_EQ(a.process->CountLog("redis .*reconnecting"), 1) << "logged once per state change\n" << a.process->Log();
  EXPECT_EQ(a.process->CountLog("redis: connected again"), 1) << a.process->Log();
}

TEST_F(ServerRedisTest, RefusesAHostNameAndABadUrl) {
  for (const std::string url : {"redis://localhost:6379", "http://127.0.0.1"}) {
    auto p = Process::Start({BinaryPath("IM_SERVER"), "--presence", url, "--db", dir_.File("x.db")},
                            dir_.File("bad.log"));
    ASSERT_TRUE(p);
    EXPECT_NE(p->Wait(5000), 0) << url;
    EXPECT_NE(p->Log().find("--presence " + url), std::string::npos) << p->Log();
  }
}

}  // namespace
}  // namespace im::test
