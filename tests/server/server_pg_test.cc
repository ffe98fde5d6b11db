// im-server on PostgreSQL, end to end: the built binary with --store postgresql://...
// on a real PostgreSQL in a temporary directory. Every verb; two servers sharing one
// database (REG on one, ADD on the other, one id registered on both at once: exactly one
// 200); PostgreSQL stopped under load (500s within a few seconds, no restart of
// im-server, service back once PostgreSQL is, no acknowledged write lost).
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/net.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"

namespace im::test {
namespace {

using Clock = std::chrono::steady_clock;

class ServerPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = Postgres::Start();
    ASSERT_TRUE(pg_) << "PostgreSQL must start for these tests";
  }
  ServerHandle StartOne(const std::string& name, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--store", pg_->Url("postgres")};
    args.insert(args.end(), extra.begin(), extra.end());
    ServerHandle s = StartServer("", dir_.File(name + ".log"), args);
    EXPECT_GT(s.tcp_port, 0) << pg_->Log();
    return s;
  }

  TempDir dir_;
  std::unique_ptr<Postgres> pg_;
};

std::vector<std::string> AtOnce(const std::vector<std::pair<int, std::string>>& requests) {
  return TcpRequestsAtOnce(requests);
}

TEST_F(ServerPgTest, EveryVerbEndToEnd) {
  ServerHandle a = StartOne("a");
  EXPECT_NE(a.process->Log().find("store postgresql"), std::string::npos) << a.process->Log();
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG alice"), "200 OK");
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG alice"), "201 ALREADY REGISTERED");
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG bob"), "200 OK");
  EXPECT_EQ(TcpRequest(a.tcp_port, "ADD alice bob"), "200 OK");
  EXPECT_EQ(TcpRequest(a.tcp_port, "ADD alice nobody"), "202 NO SUCH USER");
  UdpClient bob;
  bob.Send(a.udp_port, "SET bob ONLINE 40123");
  UdpClient alice;
  std::string status;
  for (int i = 0; i < 40 && status.find("ONLINE") == std::string::npos; ++i) {
    status = alice.Ask(a.udp_port, "GET alice", 500).value_or("");
    if (status.find("ONLINE") == std::string::npos) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(status.find("bob"), std::string::npos) << status;
  EXPECT_NE(status.find("ONLINE"), std::string::npos) << status;
  EXPECT_EQ(TcpRequest(a.tcp_port, "DEL alice bob"), "200 OK");
  EXPECT_EQ(TcpRequest(a.tcp_port, "DEL alice bob"), "201 NOT A BUDDY");
  EXPECT_EQ(alice.Ask(a.udp_port, "GET alice", 2000).value_or("?"), "");
  std::string count;
  ASSERT_TRUE(pg_->Psql("postgres", "SELECT count(*) FROM users", &count));
  EXPECT_EQ(count, "2") << "the rows are in PostgreSQL";
  // A clean stop closes the connection and every handle (uv_loop_close succeeds).
  a.process->Signal(SIGTERM);
  EXPECT_EQ(a.process->Wait(5000), 0) << a.process->Log();
  EXPECT_EQ(a.process->CountLog("exited cleanly"), 1) << a.process->Log();
}

TEST_F(ServerPgTest, TwoServersShareOneDatabaseAndOneIdIsRegisteredOnce) {
  ServerHandle a = StartOne("a");
  ServerHandle b = StartOne("b");
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG alice"), "200 OK");
  EXPECT_EQ(TcpRequest(b.tcp_port, "REG bob"), "200 OK");
  EXPECT_EQ(TcpRequest(b.tcp_port, "ADD alice bob"), "200 OK") << "B sees A's account";
  EXPECT_EQ(TcpRequest(a.tcp_port, "ADD alice bob"), "201 ALREADY BUDDY") << "A sees B's buddy";
  for (int round = 0; round < 20; ++round) {
    std::string id = "race" + std::to_string(round);
    std::vector<std::pair<int, std::string>> requests;
    for (int i = 0; i < 3; ++i) {
      requests.emplace_back(a.tcp_port, "REG " + id);
      requests.emplace_back(b.tcp_port, "REG " + id);
    }
    auto replies = AtOnce(requests);
    int ok = 0, taken = 0;
    for (const auto& r : replies) {
      ok += r == "200 OK";
      taken += r == "201 ALREADY REGISTERED";
    }
    EXPECT_EQ(ok, 1) << id;
    EXPECT_EQ(taken, 5) << id;
  }
}

TEST_F(ServerPgTest, RegistrationDoesNotWaitForAnotherTransactionThatCreatedAnAccount) {
  // The user count's trigger once updated one row, locked until COMMIT: every REG batch on
  // every server queued behind any open transaction that had created an account.
  ServerHandle a = StartOne("a", {"--busy-timeout", "3"});
  ASSERT_EQ(TcpRequest(a.tcp_port, "REG first"), "200 OK");
  pg_->PsqlInBackground("postgres", "BEGIN; INSERT INTO users(id) VALUES ('held'); SELECT pg_sleep(8); COMMIT");
  const std::string holding =
      "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(8)%' AND wait_event = 'PgSleep'";
  std::string open;
  for (int i = 0; i < 100 && open != "1"; ++i) {
    ASSERT_TRUE(pg_->Psql("postgres", holding, &open)) << pg_->Log();
    if (open != "1") std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(open, "1") << "the other transaction never started";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(TcpRequest(a.tcp_port, "REG next" + std::to_string(i)), "200 OK");
  ASSERT_TRUE(pg_->Psql("postgres", holding, &open));
  EXPECT_EQ(open, "1") << "the REGs were answered only after the other transaction ended";
}

TEST_F(ServerPgTest, MaxUsersHoldsExactlyAcrossTwoServersRegisteringAtOnce) {
  ServerHandle a = StartOne("a", {"--max-users", "30"});
  ServerHandle b = StartOne("b", {"--max-users", "30"});
  std::vector<std::pair<int, std::string>> requests;
  for (int i = 0; i < 40; ++i) {
    requests.emplace_back(a.tcp_port, "REG a" + std::to_string(i));
    requests.emplace_back(b.tcp_port, "REG b" + std::to_string(i));
  }
  auto replies = AtOnce(requests);
  int ok = 0, closed = 0;
  for (const auto& r : replies) {
    ok += r == "200 OK";
    closed += r == "203 REGISTRATION CLOSED";
  }
  EXPECT_EQ(ok, 30);
  EXPECT_EQ(closed, 50);
  std::string count;
  ASSERT_TRUE(pg_->Psql("postgres", "SELECT count(*) FROM users", &count));
  EXPECT_EQ(count, "30");
}

TEST_F(ServerPgTest, ServersStartingAtOnceOnAnEmptyDatabaseAllComeUp) {
  ASSERT_TRUE(pg_->CreateDatabase("fresh"));
  std::vector<std::unique_ptr<Process>> servers;
  for (int i = 0; i < 4; ++i) {
    servers.push_back(Process::Start({BinaryPath("IM_SERVER"), "--tcp-port", "0", "--udp-port", "0", "--store",
                                      pg_->Url("fresh")},
                                     dir_.File("s" + std::to_string(i) + ".log")));
  }
  std::string port;
  for (auto& s : servers) {
    ASSERT_TRUE(s);
    auto p = s->WaitForLog("listening tcp [^ \\n]*:([0-9]+)", 10000);
    ASSERT_TRUE(p) << s->Log();
    EXPECT_EQ(s->CountLog("ERROR"), 0) << s->Log();
    port = *p;
  }
  EXPECT_EQ(TcpRequest(std::stoi(port), "REG first"), "200 OK");
}

TEST_F(ServerPgTest, PostgresStoppedUnderLoadGives500sThenServiceResumesWithNothingLost) {
  ServerHandle a = StartOne("a", {"--busy-timeout", "1"});
  std::atomic<bool> stop{false};
  std::atomic<int> next{0};
  std::mutex mu;
  std::vector<std::pair<int, std::string>> results;  // id, reply
  std::vector<std::pair<Clock::time_point, std::string>> timeline;
  auto load = [&] {
    while (!stop) {
      int id = next++;
      std::string reply = TcpRequest(a.tcp_port, "REG load" + std::to_string(id), 5000);
      std::lock_guard<std::mutex> lock(mu);
      results.emplace_back(id, reply);
      timeline.emplace_back(Clock::now(), reply);
    }
  };
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) clients.emplace_back(load);
  auto count_since = [&](Clock::time_point since, const std::string& reply) {
    std::lock_guard<std::mutex> lock(mu);
    int n = 0;
    for (const auto& [at, r] : timeline) n += at >= since && r == reply;
    return n;
  };
  auto wait_for = [&](Clock::time_point since, const std::string& reply, int timeout_ms) {
    auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (Clock::now() < until && count_since(since, reply) < 3) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return count_since(since, reply) >= 3;
  };
  EXPECT_TRUE(wait_for(Clock::now(), "200 OK", 5000)) << "load runs";
  ASSERT_TRUE(pg_->Stop(/*immediate=*/true));
  auto stopped = Clock::now();
  EXPECT_TRUE(wait_for(stopped, "500 SERVER ERROR", 3000)) << "500s within a few seconds\n" << a.process->Log();
  UdpClient udp;
  auto asked = Clock::now();
  EXPECT_EQ(udp.Ask(a.udp_port, "GET load0", 2000).value_or("no answer"), "500 SERVER ERROR\n") << "reads too";
  EXPECT_LT(Clock::now() - asked, std::chrono::milliseconds(500)) << "and fast";
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(pg_->Restart()) << pg_->Log();
  auto restarted = Clock::now();
  EXPECT_TRUE(wait_for(restarted, "200 OK", 8000)) << "service resumes without restarting im-server\n"
                                                   << a.process->Log();
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_TRUE(a.process->Running());
  EXPECT_EQ(a.process->CountLog("postgresql: .*reconnecting"), 1) << "logged once per state change\n" << a.process->Log();
  EXPECT_EQ(a.process->CountLog("connected again"), 1) << a.process->Log();
  // No acknowledged write lost: every 200 is a row.
  std::string rows;
  ASSERT_TRUE(pg_->Psql("postgres", "SELECT string_agg(id, ' ') FROM users", &rows));
  std::set<std::string> stored;
  size_t pos = 0;
  while (pos < rows.size()) {
    size_t sp = rows.find(' ', pos);
    stored.insert(rows.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos));
    if (sp == std::string::npos) break;
    pos = sp + 1;
  }
  int acknowledged = 0;
  for (const auto& [id, reply] : results) {
    if (reply != "200 OK") continue;
    ++acknowledged;
    EXPECT_TRUE(stored.count("load" + std::to_string(id))) << "load" << id << " was acknowledged";
  }
  EXPECT_GT(acknowledged, 6);
}

}  // namespace
}  // namespace im::test
