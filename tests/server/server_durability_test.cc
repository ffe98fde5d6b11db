// Durability and sharing: kill -9 after acknowledged writes, two servers on one
// database, a database locked by another process, and a clean SIGTERM.
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <regex>
#include <thread>

#include "tests/server/server_fixture.h"

namespace im::test {
namespace {

using Clock = std::chrono::steady_clock;

// Sends `lines` over as many concurrent connections, returns each reply (without "\n").
std::vector<std::string> Burst(int port, const std::vector<std::string>& lines) {
  std::vector<std::pair<int, std::string>> requests;
  for (const auto& line : lines) requests.emplace_back(port, line);
  return TcpRequestsAtOnce(requests);
}

TEST_F(ServerTest, EveryAcknowledgedWriteSurvivesKill9) {
  Start();
  std::vector<std::string> regs, adds;
  for (int i = 0; i < 150; ++i) regs.push_back("REG k" + std::to_string(i));
  for (int i = 1; i < 150; ++i) adds.push_back("ADD k0 k" + std::to_string(i));
  auto reg_replies = Burst(server_.tcp_port, regs);
  auto add_replies = Burst(server_.tcp_port, adds);
  server_.process->Signal(SIGKILL);  // right after the last reply
  ASSERT_EQ(server_.process->Wait(5000), 128 + SIGKILL);

  Start();
  int acknowledged = 0;
  for (size_t i = 0; i < regs.size(); ++i) {
    if (reg_replies[i] != "200 OK") continue;
    ++acknowledged;
    EXPECT_EQ(Request(regs[i]), "201 ALREADY REGISTERED") << regs[i];
  }
  for (size_t i = 0; i < adds.size(); ++i) {
    if (add_replies[i] != "200 OK") continue;
    ++acknowledged;
    EXPECT_EQ(Request(adds[i]), "201 ALREADY BUDDY") << adds[i];
  }
  EXPECT_EQ(acknowledged, 150 + 149);  // with nothing in the way, every request succeeds
}

TEST_F(ServerTest, TwoServersShareOneDatabase) {
  Start();
  ServerHandle b = StartServer(db(), dir_.File("b.log"));
  ASSERT_GT(b.tcp_port, 0);
  EXPECT_EQ(Request("REG alice"), "200 OK");               // on A
  EXPECT_EQ(TcpRequest(b.tcp_port, "REG alice"), "201 ALREADY REGISTERED");
  EXPECT_EQ(TcpRequest(b.tcp_port, "REG bob"), "200 OK");  // on B
  EXPECT_EQ(TcpRequest(b.tcp_port, "ADD alice bob"), "200 OK");
  EXPECT_EQ(Request("ADD alice bob"), "201 ALREADY BUDDY");

  UdpClient bob;
  bob.Send(server_.udp_port, "SET bob ONLINE 4321");  // to A
  auto sent = Clock::now();
  std::string reply;
  while (Clock::now() - sent < std::chrono::seconds(1)) {
    reply = udp_.Ask(b.udp_port, "GET alice").value_or("");  // from B
    if (reply == "bob 100 ONLINE 127.0.0.1 4321\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(reply, "bob 100 ONLINE 127.0.0.1 4321\n") << "B did not see A's SET within 1 s";
}

TEST_F(ServerTest, TwoServersCreatingOneNewFileAtOnceBothStart) {
  // SQLite may answer the second one's switch to WAL with SQLITE_BUSY at once, without
  // waiting: it exited with "database is locked" in about one start in four.
  for (int round = 0; round < 10; ++round) {
    std::string db = dir_.File("fresh" + std::to_string(round) + ".db");
    std::vector<std::unique_ptr<Process>> servers;
    for (int i = 0; i < 2; ++i) {
      servers.push_back(Process::Start({BinaryPath("IM_SERVER"), "--db", db, "--host", "127.0.0.1", "--tcp-port", "0",
                                        "--udp-port", "0"},
                                       dir_.File("fresh" + std::to_string(round) + "-" + std::to_string(i) + ".log")));
    }
    for (auto& server : servers) {
      EXPECT_TRUE(server->WaitForLog("listening udp 127.0.0.1:([0-9]+)", 10000)) << "round " << round << ": "
                                                                                  << server->Log();
    }
  }
}

TEST_F(ServerTest, ADeletedDatabaseFileStopsWritesWithAClearError) {
  Start();
  ASSERT_EQ(Request("REG alice"), "200 OK");
  // As an operator cleaning up would: the file and its WAL and index.
  for (const char* suffix : {"", "-wal", "-shm"}) unlink((db() + suffix).c_str());
  // Within the watch interval (2 s) the server notices; until then it may still answer 200.
  std::string reply;
  auto deadline = Clock::now() + std::chrono::seconds(5);
  for (int i = 0; Clock::now() < deadline; ++i) {
    reply = Request("REG user" + std::to_string(i));
    if (reply == "500 SERVER ERROR") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(reply, "500 SERVER ERROR");
  EXPECT_EQ(Request("REG latecomer"), "500 SERVER ERROR") << "and stays refused";
  // A second server on the same path makes a new file; the first one must not write into
  // its orphan meanwhile, nor into the new one unseen.
  ServerHandle b = StartServer(db(), dir_.File("b.log"));
  ASSERT_GT(b.tcp_port, 0);
  EXPECT_EQ(TcpRequest(b.tcp_port, "REG alice"), "200 OK") << "a new, empty database";
  EXPECT_EQ(Request("REG bob"), "500 SERVER ERROR");
  std::string log;
  std::ifstream in(this->log());
  for (std::string line; std::getline(in, line);) log += line + "\n";
  EXPECT_NE(log.find("was deleted"), std::string::npos) << log;
}

TEST_F(ServerTest, ConcurrentWritersOnTwoServersLoseNothing) {
  Start();
  ServerHandle b = StartServer(db(), dir_.File("b.log"));
  std::vector<std::string> to_a, to_b;
  for (int i = 0; i < 100; ++i) {
    to_a.push_back("REG s" + std::to_string(i));  // the same ids on both servers
    to_b.push_back("REG s" + std::to_string(i));
  }
  auto fut = std::async(std::launch::async, [&] { return Burst(b.tcp_port, to_b); });
  auto ra = Burst(server_.tcp_port, to_a);
  auto rb = fut.get();
  for (int i = 0; i < 100; ++i) {
    // Exactly one of the two registrations created the account.
    int created = (ra[i] == "200 OK") + (rb[i] == "200 OK");
    int existed = (ra[i] == "201 ALREADY REGISTERED") + (rb[i] == "201 ALREADY REGISTERED");
    EXPECT_EQ(created, 1) << i << ": " << ra[i] << " / " << rb[i];
    EXPECT_EQ(existed, 1) << i;
  }
}

// Holds the database's write lock from another connection, as another process would.
class WriteLockHolder {
 public:
  explicit WriteLockHolder(const std::string& path) {
    sqlite3_open(path.c_str(), &db_);
    ok_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  ~WriteLockHolder() { Release(); }
  void Release() {
    if (db_ == nullptr) return;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }
  bool ok() const { return ok_; }

 private:
  sqlite3* db_ = nullptr;
  bool ok_ = false;
};

TEST_F(ServerTest, LockedDatabaseDelaysWritesButNotReads) {
  Start();
  ASSERT_EQ(Request("REG alice"), "200 OK");
  WriteLockHolder lock(db());
  ASSERT_TRUE(lock.ok());
  auto pending = std::async(std::launch::async, [&] { return TcpRequest(server_.tcp_port, "REG late", 8000); });
  // Reads are answered quickly throughout.
  for (int i = 0; i < 10; ++i) {
    auto start = Clock::now();
    EXPECT_EQ(Ask("GET alice"), "");
    EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(50));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(pending.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  lock.Release();
  EXPECT_EQ(pending.get(), "200 OK");
  EXPECT_EQ(Request("REG late"), "201 ALREADY REGISTERED");
}

TEST_F(ServerTest, WriteThatOutwaitsBusyTimeoutGets500AndChangesNothing) {
  Start({"--busy-timeout", "0.3"});
  {
    WriteLockHolder lock(db());
    ASSERT_TRUE(lock.ok());
    auto start = Clock::now();
    EXPECT_EQ(Request("REG unlucky"), "500 SERVER ERROR");
    EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(250));
  }
  EXPECT_EQ(Request("REG unlucky"), "200 OK");  // the failed one left nothing behind
}

TEST_F(ServerTest, SigtermExitsCleanlyWithinOneSecond) {
  Start();
  EXPECT_EQ(Request("REG alice"), "200 OK");
  int idle = ConnectTcp(server_.tcp_port);  // an open connection must not hold it up
  ASSERT_GE(idle, 0);
  auto start = Clock::now();
  server_.process->Signal(SIGTERM);
  EXPECT_EQ(server_.process->Wait(3000), 0);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  close(idle);
  EXPECT_TRUE(server_.process->WaitForLog("exited cleanly", 100));
  Start();
  EXPECT_EQ(Request("REG alice"), "201 ALREADY REGISTERED");
}

TEST_F(ServerTest, PresenceWrittenBehindIsReadAtOnceAndCommittedOnSigterm) {
  Start();
  for (const char* line : {"REG alice", "REG bob", "ADD alice bob"}) ASSERT_EQ(Request(line), "200 OK");
  UdpClient bob;
  bob.Send(server_.udp_port, "SET bob ONLINE 4321");
  // The same server answers from the SET still waiting in memory, without a flush.
  EXPECT_EQ(udp_.Ask(server_.udp_port, "GET alice").value_or(""), "bob 100 ONLINE 127.0.0.1 4321\n");
  bob.Send(server_.udp_port, "SET bob ONLINE 4322");
  // Seen, so the server has taken it (a SIGTERM handled first would close the socket).
  EXPECT_EQ(udp_.Ask(server_.udp_port, "GET alice").value_or(""), "bob 100 ONLINE 127.0.0.1 4322\n");
  server_.process->Signal(SIGTERM);  // well inside 50 ms: the shutdown commits what waits
  ASSERT_EQ(server_.process->Wait(3000), 0);
  Start();
  EXPECT_EQ(udp_.Ask(server_.udp_port, "GET alice").value_or(""), "bob 100 ONLINE 127.0.0.1 4322\n");
}

// The counters the issue found kept but never reported are in the exit line, and the
// SET figures say what happened: received, taken into memory, and rows written.
TEST_F(ServerTest, TheExitLineReportsSetsReceivedQueuedAndWritten) {
  Start();
  for (const char* line : {"REG alice", "REG bob", "ADD alice bob"}) ASSERT_EQ(Request(line), "200 OK");
  UdpClient bob;
  bob.Send(server_.udp_port, "SET bob ONLINE 4321");
  bob.Send(server_.udp_port, "SET bob ONLINE 4322");  // coalesces with the first if it still waits
  bob.Send(server_.udp_port, "SET ghost ONLINE 4323");  // never registered: not written
  EXPECT_EQ(udp_.Ask(server_.udp_port, "GET alice").value_or(""), "bob 100 ONLINE 127.0.0.1 4322\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // past the 50 ms write-behind
  server_.process->Signal(SIGTERM);
  ASSERT_EQ(server_.process->Wait(3000), 0);
  std::string log = server_.process->Log();
  auto exit_line = server_.process->WaitForLog("(exit: .*)", 100);
  ASSERT_TRUE(exit_line) << log;
  EXPECT_TRUE(std::regex_search(*exit_line, std::regex("udp SET 3 received, 3 queued, [12] written "))) << *exit_line;
  EXPECT_TRUE(std::regex_search(*exit_line, std::regex("GET 1 "))) << *exit_line;
  EXPECT_TRUE(std::regex_search(*exit_line, std::regex("replies dropped 0;"))) << *exit_line;
  EXPECT_TRUE(std::regex_search(*exit_line, std::regex("log lines dropped 0;"))) << *exit_line;
  EXPECT_TRUE(std::regex_search(*exit_line, std::regex("accepting paused 0 times;"))) << *exit_line;
}

TEST_F(ServerTest, SigtermFinishesAWriteWaitingForTheLock) {
  Start();
  WriteLockHolder lock(db());
  ASSERT_TRUE(lock.ok());
  auto pending = std::async(std::launch::async, [&] { return TcpRequest(server_.tcp_port, "REG inflight", 5000); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  server_.process->Signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  lock.Release();  // released inside the shutdown budget: the write commits
  EXPECT_EQ(pending.get(), "200 OK");
  EXPECT_EQ(server_.process->Wait(3000), 0);
}

}  // namespace
}  // namespace im::test
