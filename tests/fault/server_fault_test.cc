// Fault suite for im-server: crashes mid-storm, a database locked for seconds, thousands
// of idle and slow clients, floods of garbage, and a valgrind run. Each test is bounded
// in time and sends traffic only to 127.0.0.1.
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "tests/server/server_fixture.h"

namespace im::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Resident memory of a process in KiB (VmRSS), or -1.
long RssKib(pid_t pid, const char* field = "VmRSS:") {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(strlen(field)));
  }
  return -1;
}

class FaultTest : public ServerTest {};

TEST_F(FaultTest, Kill9MidStormLosesNoAcknowledgedWriteAndAppliesNoFailedOne) {
  Start();
  ASSERT_EQ(Request("REG hub"), "200 OK");
  std::mutex mu;
  std::set<std::string> acked, failed;  // request lines
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      for (int i = 0; i < 5000 && !stop; ++i) {
        std::string id = "w" + std::to_string(w) + "_" + std::to_string(i);
        for (std::string line : {"REG " + id, "ADD hub " + id}) {
          std::string reply = TcpRequest(server_.tcp_port, line, 2000);
          std::lock_guard<std::mutex> lock(mu);
          if (reply == "200 OK") acked.insert(line);
          if (reply == "500 SERVER ERROR") failed.insert(line);
        }
      }
    });
  }
  std::this_thread::sleep_for(700ms);  // the storm is in full swing
  server_.process->Signal(SIGKILL);
  stop = true;
  for (auto& t : workers) t.join();
  ASSERT_EQ(server_.process->Wait(5000), 128 + SIGKILL);
  ASSERT_GT(acked.size(), 50u) << "the storm did not get going";

  Start();
  for (const std::string& line : acked) {
    std::string again = Request(line);
    EXPECT_TRUE(again == "201 ALREADY REGISTERED" || again == "201 ALREADY BUDDY")
        << line << " was acknowledged but is gone: " << again;
  }
  for (const std::string& line : failed) {
    std::string again = Request(line);
    EXPECT_EQ(again, "200 OK") << line << " got 500 but was applied";
  }
}

TEST_F(FaultTest, ThreeSecondLockKeepsReadsFastAndLosesNoWrite) {
  Start();
  ASSERT_EQ(Request("REG reader"), "200 OK");
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(db().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto locked_at = Clock::now();

  std::vector<std::future<std::string>> writes;
  for (int i = 0; i < 20; ++i) {
    writes.push_back(std::async(std::launch::async, [this, i] {
      return TcpRequest(server_.tcp_port, "REG locked" + std::to_string(i), 10000);
    }));
  }
  auto slowest = 0ms;
  while (Clock::now() - locked_at < 3s) {
    auto start = Clock::now();
    EXPECT_EQ(Ask("GET reader"), "");
    slowest = std::max(slowest, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start));
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_LT(slowest, 50ms) << "a GET waited for the lock";
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);

  for (int i = 0; i < 20; ++i) {
    std::string reply = writes[i].get();
    std::string again = Request("REG locked" + std::to_string(i));
    if (reply == "200 OK") {
      EXPECT_EQ(again, "201 ALREADY REGISTERED");
    } else {
      EXPECT_EQ(reply, "500 SERVER ERROR");
      EXPECT_EQ(again, "200 OK") << "a 500 left its change behind";
    }
  }
}

TEST_F(FaultTest, FiveThousandIdleConnectionsAndASlowlorisDoNotStopService) {
  RaiseFdLimit();
  Start({"--idle-timeout", "2", "--quiet"});
  std::vector<int> idle;
  for (int i = 0; i < 5000; ++i) {
    // A botnet's worth of addresses, each under the per-address cap.
    int fd = ConnectTcp(server_.tcp_port, "127.0.0.1", "127.0.1." + std::to_string(i / 200 + 1));
    if (fd < 0) break;
    idle.push_back(fd);
  }
  ASSERT_EQ(idle.size(), 5000u);
  int slow = ConnectTcp(server_.tcp_port);
  ASSERT_GE(slow, 0);
  // New requests are served while all of them hang around.
  auto start = Clock::now();
  EXPECT_EQ(Request("REG busy.day"), "200 OK");
  EXPECT_LT(Clock::now() - start, 1s);
  long rss_busy = RssKib(server_.process->pid());

  // The slowloris sends a byte a second and is closed by the timeout all the same.
  bool slow_closed = false;
  for (int i = 0; i < 5 && !slow_closed; ++i) {
    slow_closed = send(slow, "R", 1, MSG_NOSIGNAL) != 1;
    std::string got;
    slow_closed = slow_closed || ReadUntilClosed(slow, &got, 1000);
  }
  EXPECT_TRUE(slow_closed) << "the slowloris connection was never closed";
  close(slow);
  // Every idle connection was closed by the server (reading gives EOF at once).
  int closed = 0;
  for (int fd : idle) {
    std::string got;
    closed += ReadUntilClosed(fd, &got, 100);
    close(fd);
  }
  EXPECT_EQ(closed, 5000);
  EXPECT_LT(rss_busy, 64 * 1024) << "KiB resident with 5000 idle connections";
  EXPECT_EQ(Request("REG after.storm"), "200 OK");
}

TEST_F(FaultTest, GarbageFloodsAreRejectedAndServiceContinues) {
  Start({"--quiet"});
  ASSERT_EQ(Request("REG steady"), "200 OK");
  // Over-long lines and binary junk over TCP: every one gets 400.
  std::vector<std::future<std::string>> replies;
  for (int i = 0; i < 200; ++i) {
    std::string junk = i % 2 ? std::string(300 + i * 50, 'A') : std::string(1000, static_cast<char>(i));
    replies.push_back(std::async(std::launch::async, [this, junk] {
      return TcpExchange(server_.tcp_port, junk + "\n");
    }));
  }
  int bad_request = 0;
  for (auto& r : replies) bad_request += r.get() == "400 BAD REQUEST\n";
  EXPECT_EQ(bad_request, 200);
  // UDP junk: dropped or 400; the well-formed GET right after is still answered.
  UdpClient flooder;
  for (int i = 0; i < 50000; ++i) {
    std::string junk(static_cast<size_t>(1 + i % 1400), static_cast<char>(i));
    flooder.Send(server_.udp_port, junk);
  }
  EXPECT_EQ(AskUntilAnswered("GET steady"), "");
  EXPECT_EQ(Request("REG still.steady"), "200 OK");
  long rss = RssKib(server_.process->pid());
  EXPECT_LT(rss, 64 * 1024);
}

TEST_F(FaultTest, ValgrindFindsNoErrorsOrLeaks) {
  if (system("command -v valgrind >/dev/null 2>&1") != 0) GTEST_SKIP() << "valgrind not installed";
  // tools/test-sanitized sets ASAN_OPTIONS: valgrind cannot run an ASan binary, and the
  // sanitizer already checks the same things in that pass.
  if (getenv("ASAN_OPTIONS") != nullptr) GTEST_SKIP() << "sanitizer build: ASan stands in for valgrind";
  auto p = Process::Start({"/usr/bin/valgrind", "--error-exitcode=1", "--leak-check=full",
                           "--errors-for-leak-kinds=definite,indirect", "--quiet",
                           BinaryPath("IM_SERVER"), "--tcp-port", "0", "--udp-port", "0", "--db", db(),
                           "--idle-timeout", "0.5"},
                          log());
  ASSERT_TRUE(p);
  auto tcp = p->WaitForLog("listening tcp [^ \\n]*:([0-9]+)", 30000);
  auto udp = p->WaitForLog("listening udp [^ \\n]*:([0-9]+)", 1000);
  ASSERT_TRUE(tcp && udp) << p->Log();
  int tcp_port = std::stoi(*tcp), udp_port = std::stoi(*udp);
  // A short mixed run: every request kind, bad input, an idle connection, UDP.
  EXPECT_EQ(TcpRequest(tcp_port, "REG vg1"), "200 OK");
  EXPECT_EQ(TcpRequest(tcp_port, "REG vg2"), "200 OK");
  EXPECT_EQ(TcpRequest(tcp_port, "ADD vg1 vg2"), "200 OK");
  EXPECT_EQ(TcpRequest(tcp_port, "DEL vg1 vg2"), "200 OK");
  EXPECT_EQ(TcpRequest(tcp_port, "ADD vg1 vg2"), "200 OK");
  EXPECT_EQ(TcpRequest(tcp_port, std::string(400, 'x')), "400 BAD REQUEST");
  int idle = ConnectTcp(tcp_port);
  udp_.Send(udp_port, "SET vg2 ONLINE 9");
  udp_.Send(udp_port, "garbage");
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(udp_.Ask(udp_port, "GET vg1", 5000), "vg2 100 ONLINE 127.0.0.1 9\n");
  EXPECT_EQ(udp_.Ask(udp_port, "GET nobody", 5000), "202 NO SUCH USER\n");
  int open_at_exit = ConnectTcp(tcp_port);  // still open when SIGTERM arrives
  std::this_thread::sleep_for(1s);           // the idle one is swept
  p->Signal(SIGTERM);
  EXPECT_EQ(p->Wait(30000), 0) << p->Log();
  if (idle >= 0) close(idle);
  if (open_at_exit >= 0) close(open_at_exit);
}

}  // namespace
}  // namespace im::test
