// im-lb in front of real im-server processes (and a test echo backend), over loopback.
#include <arpa/inet.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/net.h"
#include "tests/support/process.h"

namespace im::test {
namespace {

// Backends behind a balancer trust its address (here every test connection's), as a
// deployment would: the per-address cap is for clients, not for the balancer.
const std::vector<std::string> kBackendArgs = {"--trusted", "127.0.0.1"};

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

long StatusKib(pid_t pid, const std::string& field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
  }
  return -1;
}

// A blocking TCP listener on 127.0.0.1 for the tests' own backends.
int ListenLoopback(int backlog, int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  listen(fd, backlog);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

class LbTest : public ::testing::Test {
 protected:
  void StartBackends() {
    a_ = StartServer(dir_.File("im.db"), dir_.File("a.log"), kBackendArgs);
    b_ = StartServer(dir_.File("im.db"), dir_.File("b.log"), kBackendArgs);
    ASSERT_GT(a_.tcp_port, 0);
    ASSERT_GT(b_.tcp_port, 0);
  }
  void StartLb(const std::vector<int>& backend_ports, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {BinaryPath("IM_LB"), "--listen", "127.0.0.1:0"};
    for (int p : backend_ports) {
      argv.push_back("--backend");
      argv.push_back("127.0.0.1:" + std::to_string(p));
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    lb_ = Process::Start(argv, dir_.File("lb.log"));
    ASSERT_TRUE(lb_);
    auto port = lb_->WaitForLog("Load Balancer running on port ([0-9]+)", 5000);
    ASSERT_TRUE(port) << lb_->Log();
    lb_port_ = std::stoi(*port);
  }
  std::string Via(const std::string& line) { return TcpRequest(lb_port_, line); }

  TempDir dir_;
  ServerHandle a_, b_;
  std::unique_ptr<Process> lb_;
  int lb_port_ = 0;
};

TEST_F(LbTest, AlternatesBetweenBackendsAndRepliesAsADirectRequestWould) {
  StartBackends();
  StartLb({a_.tcp_port, b_.tcp_port});
  EXPECT_EQ(Via("REG alice"), "200 OK");
  EXPECT_EQ(Via("REG alice"), "201 ALREADY REGISTERED");  // the other backend, same database
  EXPECT_EQ(Via("REG bob"), "200 OK");
  EXPECT_EQ(Via("ADD alice bob"), "200 OK");
  EXPECT_EQ(Via("ADD alice bob"), "201 ALREADY BUDDY");
  EXPECT_EQ(Via("DEL alice carol"), "202 NO SUCH USER");  // carol never registered
  EXPECT_EQ(Via("HELLO"), "400 BAD REQUEST");
  EXPECT_EQ(Via("REG b@d"), "202 INVALID USERID");
  EXPECT_EQ(TcpRequest(a_.tcp_port, "REG bob"), "201 ALREADY REGISTERED");  // direct, same answer

  auto deadline = Clock::now() + 2s;
  while (lb_->CountLog("Connection closed") < 8 && Clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(lb_->CountLog("Connection closed"), 8);
  EXPECT_EQ(lb_->CountLog("New client -> backend #0"), 4);
  EXPECT_EQ(lb_->CountLog("New client -> backend #1"), 4);
  EXPECT_EQ(lb_->CountLog("Client connected to backend: 127.0.0.1:" + std::to_string(a_.tcp_port)), 4);
  // Each backend's own log saw its half: requests 1, 3, 5, 7 on A and 2, 4, 6, 8 on B.
  EXPECT_EQ(a_.process->CountLog(" REG alice -> 200 OK"), 1);
  EXPECT_EQ(b_.process->CountLog(" REG alice -> 201 ALREADY REGISTERED"), 1);
  // (?!PING): the balancer's health probes are not requests.
  EXPECT_EQ(a_.process->CountLog("tcp 127.0.0.1:[0-9]+ (?!PING)"), 4 + 1);  // + the direct one
  EXPECT_EQ(b_.process->CountLog("tcp 127.0.0.1:[0-9]+ (?!PING)"), 4);
}

TEST_F(LbTest, ListensOnIpv6AndForwardsToIpv6Backends) {
  a_ = StartServer(dir_.File("im.db"), dir_.File("a.log"), {"--host", "::1", "--trusted", "::1"});
  ASSERT_GT(a_.tcp_port, 0);
  EXPECT_NE(a_.process->Log().find("listening tcp [::1]:"), std::string::npos) << a_.process->Log();
  lb_ = Process::Start({BinaryPath("IM_LB"), "--listen", "[::1]:0", "--backend", "[::1]:" + std::to_string(a_.tcp_port)},
                       dir_.File("lb.log"));
  auto port = lb_->WaitForLog("Load Balancer running on port ([0-9]+)", 5000);
  ASSERT_TRUE(port) << lb_->Log();  // was: exit 1, "bad address ::1:0"
  EXPECT_EQ(TcpRequest(std::stoi(*port), "REG six", 5000, "::1"), "200 OK");
  EXPECT_EQ(TcpRequest(std::stoi(*port), "REG six", 5000, "::1"), "201 ALREADY REGISTERED");
  EXPECT_EQ(ConnectTcp(std::stoi(*port)), -1) << "bound to ::1 only, not to 127.0.0.1";
  EXPECT_NE(lb_->Log().find("Backend 0: [::1]:"), std::string::npos) << lb_->Log();
}

TEST_F(LbTest, Kill9OfABackendFailsNoRequestAndItRejoinsWithinTwoSeconds) {
  StartBackends();
  StartLb({a_.tcp_port, b_.tcp_port}, {"--check-interval", "0.2", "--quiet"});
  int b_port = b_.tcp_port;
  for (int i = 0; i < 20; ++i) ASSERT_EQ(Via("REG before" + std::to_string(i)), "200 OK");
  b_.process->Signal(SIGKILL);
  b_.process->Wait(5000);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(Via("REG after" + std::to_string(i)), "200 OK") << "request " << i << " after the kill";
  }
  EXPECT_TRUE(lb_->WaitForLog("Backend #1 \\([^)]*\\) is DOWN", 1000));

  auto restarted = Clock::now();
  b_ = StartServer(dir_.File("im.db"), dir_.File("b2.log"), kBackendArgs, b_port);
  ASSERT_EQ(b_.tcp_port, b_port);
  ASSERT_TRUE(lb_->WaitForLog("Backend #1 \\([^)]*\\) is UP again", 2000)) << lb_->Log();
  EXPECT_LT(Clock::now() - restarted, 2s);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Via("REG back" + std::to_string(i)), "200 OK");
  EXPECT_GE(b_.process->CountLog(" REG back"), 4) << "the restarted backend gets its share again";
}

TEST_F(LbTest, AllBackendsDownGives503UntilTheyComeBack) {
  StartBackends();
  int a_port = a_.tcp_port, b_port = b_.tcp_port;
  StartLb({a_port, b_port}, {"--check-interval", "0.2"});
  a_.process->Signal(SIGKILL);
  b_.process->Signal(SIGKILL);
  a_.process->Wait(5000);
  b_.process->Wait(5000);
  EXPECT_EQ(Via("REG x"), "503 NO BACKEND AVAILABLE");
  EXPECT_EQ(Via("REG x"), "503 NO BACKEND AVAILABLE");
  a_ = StartServer(dir_.File("im.db"), dir_.File("a2.log"), kBackendArgs, a_port);
  ASSERT_TRUE(lb_->WaitForLog("Backend #0 \\([^)]*\\) is UP again", 2000));
  EXPECT_EQ(Via("REG x"), "200 OK");
  EXPECT_EQ(Via("REG x"), "201 ALREADY REGISTERED");
}

TEST_F(LbTest, ABackendThatNeverAcceptsTimesOutAndTheClientIsServedElsewhere) {
  StartBackends();
  // A listener whose accept queue is full: the kernel drops further SYNs, so a connect
  // to it hangs rather than failing.
  int stuck_port = 0;
  int stuck = ListenLoopback(0, &stuck_port);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(stuck_port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(100ms);
  StartLb({stuck_port, a_.tcp_port}, {"--connect-timeout", "0.3", "--check-interval", "5"});
  auto start = Clock::now();
  EXPECT_EQ(Via("REG patient"), "200 OK");
  EXPECT_GE(Clock::now() - start, 250ms);
  EXPECT_TRUE(lb_->WaitForLog("Backend #0 \\([^)]*\\) is DOWN: connection timed out", 1000)) << lb_->Log();
  for (int fd : fillers) close(fd);
  close(stuck);
}

// The echo backend for the splicing stress test: echoes every byte, half-closes on EOF.
void EchoOne(int listen_fd) {
  int fd = accept(listen_fd, nullptr, nullptr);
  if (fd < 0) return;
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(fd, buf.data() + off, static_cast<size_t>(n - off));
      if (w <= 0) {
        close(fd);
        return;
      }
      off += w;
    }
  }
  shutdown(fd, SHUT_WR);
  close(fd);
}

uint64_t Fnv1a(uint64_t h, const char* data, size_t len) {
  for (size_t i = 0; i < len; ++i) h = (h ^ static_cast<unsigned char>(data[i])) * 1099511628211ULL;
  return h;
}

TEST_F(LbTest, SixtyFourMebibytesEachWayArriveIntactInBoundedMemory) {
  int echo_port = 0;
  int echo_fd = ListenLoopback(16, &echo_port);
  std::thread echo(EchoOne, echo_fd);
  StartLb({echo_port}, {"--quiet"});
  int fd = ConnectTcp(lb_port_);
  ASSERT_GE(fd, 0);
  timeval tv{20, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  constexpr size_t kTotal = 64u << 20;
  auto sender = std::async(std::launch::async, [fd] {
    std::vector<char> chunk(1 << 16);
    uint64_t h = 1469598103934665603ULL, x = 88172645463325252ULL;
    for (size_t sent = 0; sent < kTotal; sent += chunk.size()) {
      for (auto& c : chunk) {  // xorshift: incompressible, position-dependent bytes
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        c = static_cast<char>(x);
      }
      h = Fnv1a(h, chunk.data(), chunk.size());
      for (size_t off = 0; off < chunk.size();) {
        ssize_t w = send(fd, chunk.data() + off, chunk.size() - off, MSG_NOSIGNAL);
        if (w <= 0) return uint64_t{0};
        off += static_cast<size_t>(w);
      }
    }
    shutdown(fd, SHUT_WR);  // half-close: the echo must still come back in full
    return h;
  });
  // A slow reader: for half a second nothing is read, so without backpressure the
  // balancer would have to hold everything the sender pushes meanwhile.
  std::this_thread::sleep_for(500ms);
  uint64_t got_hash = 1469598103934665603ULL;
  size_t received = 0;
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    got_hash = Fnv1a(got_hash, buf.data(), static_cast<size_t>(n));
    received += static_cast<size_t>(n);
  }
  uint64_t sent_hash = sender.get();
  close(fd);
  echo.join();
  close(echo_fd);
  EXPECT_EQ(received, kTotal);
  EXPECT_EQ(got_hash, sent_hash);
  long peak = StatusKib(lb_->pid(), "VmHWM:");
  EXPECT_GT(peak, 0);
  EXPECT_LT(peak, 64 * 1024) << "KiB peak RSS of im-lb";
}

TEST_F(LbTest, AHalfClosingClientStillGetsItsReply) {
  StartBackends();
  StartLb({a_.tcp_port, b_.tcp_port});
  // TcpExchange sends the line, shuts down its write side, then reads to EOF.
  EXPECT_EQ(TcpExchange(lb_port_, "REG halfclose\n"), "200 OK\n");
  EXPECT_EQ(TcpExchange(lb_port_, "REG halfclose"), "201 ALREADY REGISTERED\n");  // no newline even
}

TEST_F(LbTest, ThousandsOfConcurrentShortConnectionsAllComplete) {
  RaiseFdLimit();
  StartBackends();
  // One source address, as a load generator: no per-address cap.
  StartLb({a_.tcp_port, b_.tcp_port}, {"--quiet", "--max-conns-per-ip", "0"});
  constexpr int kClients = 3000;
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    int fd = ConnectTcp(lb_port_);
    ASSERT_GE(fd, 0) << i;
    std::string line = "REG c" + std::to_string(i) + "\n";
    ASSERT_EQ(send(fd, line.data(), line.size(), MSG_NOSIGNAL), static_cast<ssize_t>(line.size()));
    fds.push_back(fd);
  }
  int ok = 0;
  for (int fd : fds) {
    std::string reply;
    ReadUntilClosed(fd, &reply, 10000);
    ok += reply == "200 OK\n";
    close(fd);
  }
  EXPECT_EQ(ok, kClients);
}

TEST_F(LbTest, IdlePairsAreClosedAndSigtermDrainsThenExits) {
  StartBackends();
  StartLb({a_.tcp_port}, {"--idle-timeout", "0.3"});
  int fd = ConnectTcp(lb_port_);
  ASSERT_GE(fd, 0);
  std::string got;
  auto start = Clock::now();
  EXPECT_TRUE(ReadUntilClosed(fd, &got, 3000));  // the server's own idle timeout is 5 s
  EXPECT_LT(Clock::now() - start, 2s);
  close(fd);
  EXPECT_EQ(Via("REG drained"), "200 OK");
  lb_->Signal(SIGTERM);
  EXPECT_EQ(lb_->Wait(3000), 0);
  EXPECT_TRUE(lb_->WaitForLog("exit: [0-9]+ connections accepted", 100)) << lb_->Log();
  EXPECT_TRUE(lb_->WaitForLog("exit: .*, accepting paused 0 times", 100)) << "every counter reported: " << lb_->Log();
}

TEST_F(LbTest, UsageErrors) {
  auto help = Process::Start({BinaryPath("IM_LB"), "--help"}, dir_.File("h.log"));
  EXPECT_EQ(help->Wait(5000), 0);
  for (const char* option : {"--backend", "--first-byte-timeout", "--half-close-timeout", "--max-conns-per-ip",
                             "--response-timeout", "--check-timeout"}) {
    EXPECT_NE(help->Log().find(option), std::string::npos) << option;
  }
  auto bad = Process::Start({BinaryPath("IM_LB"), "--backend", "127.0.0.1:99999"}, dir_.File("b.log"));
  EXPECT_EQ(bad->Wait(5000), 2);
  EXPECT_NE(bad->Log().find("bad address"), std::string::npos) << bad->Log();
  auto negative = Process::Start({BinaryPath("IM_LB"), "--response-timeout=-1"}, dir_.File("n.log"));
  EXPECT_EQ(negative->Wait(5000), 2);
  auto cap = Process::Start({BinaryPath("IM_LB"), "--max-conns-per-ip=-1"}, dir_.File("c.log"));
  EXPECT_EQ(cap->Wait(5000), 2);
}

// Resumes a SIGSTOPped process however the test ends (the Process then kills it).
struct Continue {
  pid_t pid;
  ~Continue() { kill(pid, SIGCONT); }
};

// Milliseconds since `start`.
long long MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

TEST_F(LbTest, ABackendsEndReachesTheClientAtOnceAndAClientThatNeverClosesFreesItsSlot) {
  StartBackends();
  StartLb({a_.tcp_port, b_.tcp_port}, {"--max-conns", "50", "--quiet"});
  // 50 clients get their reply and the server's end, and then neither write nor close:
  // all slots are held by pairs whose backend side has ended.
  std::vector<int> fds;
  for (int i = 0; i < 50; ++i) {
    int fd = ConnectTcp(lb_port_);
    ASSERT_GE(fd, 0) << i;
    ASSERT_EQ(send(fd, "PING\n", 5, MSG_NOSIGNAL), 5);
    fds.push_back(fd);
  }
  for (int fd : fds) {
    std::string got;
    auto start = Clock::now();
    EXPECT_TRUE(ReadUntilClosed(fd, &got, 1000)) << "the backend's EOF is passed on at once";
    EXPECT_EQ(got, "200 OK\n");
    EXPECT_LT(MsSince(start), 1000);
  }
  // Was: the 51st waited in the backlog for the 60 s idle timeout.
  auto start = Clock::now();
  EXPECT_EQ(TcpRequest(lb_port_, "REG fiftyfirst", 5000), "200 OK");
  EXPECT_LT(MsSince(start), 3500) << "--half-close-timeout 2 s frees the silent pairs";
  for (int fd : fds) close(fd);
}

TEST_F(LbTest, AClientThatSendsNothingIsClosedAfterTheFirstByteTimeout) {
  StartBackends();
  StartLb({a_.tcp_port, b_.tcp_port}, {"--first-byte-timeout", "0.3"});
  int fd = ConnectTcp(lb_port_);
  ASSERT_GE(fd, 0);
  std::string got;
  auto start = Clock::now();
  // Was: open until the server's own 5 s idle timeout (and then the 60 s one of im-lb).
  EXPECT_TRUE(ReadUntilClosed(fd, &got, 3000));
  EXPECT_GE(MsSince(start), 250);
  EXPECT_LT(MsSince(start), 2000);
  EXPECT_EQ(got, "");
  close(fd);
  // A client that does speak is not affected by the short timeout.
  int slow = ConnectTcp(lb_port_);
  ASSERT_GE(slow, 0);
  ASSERT_EQ(send(slow, "REG ", 4, MSG_NOSIGNAL), 4);
  std::this_thread::sleep_for(500ms);
  ASSERT_EQ(send(slow, "patient\n", 8, MSG_NOSIGNAL), 8);
  got.clear();
  EXPECT_TRUE(ReadUntilClosed(slow, &got, 3000));
  EXPECT_EQ(got, "200 OK\n");
  close(slow);
}

TEST_F(LbTest, OneAddressAtItsCapShedsItsOwnSilentConnectionsOrIsRefusedAndOthersAreNotTouched) {
  StartBackends();
  StartLb({a_.tcp_port, b_.tcp_port}, {"--max-conns-per-ip", "4"});
  // Four silent connections from 127.0.0.1 fill its share; a fifth that speaks gets in
  // by shedding the oldest of them.
  std::vector<int> silent;
  for (int i = 0; i < 4; ++i) {
    silent.push_back(ConnectTcp(lb_port_));
    ASSERT_GE(silent.back(), 0);
    std::this_thread::sleep_for(20ms);  // accept order = connect order
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(Via("REG fifth"), "200 OK");
  std::string got;
  EXPECT_TRUE(ReadUntilClosed(silent[0], &got, 1000)) << "the oldest silent one was shed";
  for (int fd : silent) close(fd);
  ASSERT_TRUE(lb_->WaitForLog("--max-conns-per-ip reached: closed the oldest connection", 1000)) << lb_->Log();

  // Four that have spoken (half a line each) hold their slots: a fifth from the same
  // address is refused, one from another address is served.
  std::vector<int> talking;
  for (int i = 0; i < 4; ++i) {
    talking.push_back(ConnectTcp(lb_port_));
    ASSERT_GE(talking.back(), 0);
    ASSERT_EQ(send(talking.back(), "REG t", 5, MSG_NOSIGNAL), 5);
  }
  std::this_thread::sleep_for(200ms);
  got.clear();
  int fifth = ConnectTcp(lb_port_);
  ASSERT_GE(fifth, 0);
  EXPECT_TRUE(ReadUntilClosed(fifth, &got, 1000));
  EXPECT_EQ(got, "") << "refused without a reply";
  close(fifth);
  int other = ConnectTcp(lb_port_, "127.0.0.1", "127.0.0.2");
  ASSERT_GE(other, 0);
  ASSERT_EQ(send(other, "REG other\n", 10, MSG_NOSIGNAL), 10);
  got.clear();
  EXPECT_TRUE(ReadUntilClosed(other, &got, 2000));
  EXPECT_EQ(got, "200 OK\n") << "another address is not affected";
  close(other);
  for (int i = 0; i < 4; ++i) {
    std::string line = std::to_string(i) + "\n";
    send(talking[static_cast<size_t>(i)], line.data(), line.size(), MSG_NOSIGNAL);
    got.clear();
    EXPECT_TRUE(ReadUntilClosed(talking[static_cast<size_t>(i)], &got, 2000));
    EXPECT_EQ(got, "200 OK\n") << "REG t" << i;
    close(talking[static_cast<size_t>(i)]);
  }
}

TEST_F(LbTest, AtMaxConnsTheOldestSilentClientMakesRoomInsteadOfEveryoneWaiting) {
  StartBackends();
  StartLb({a_.tcp_port, b_.tcp_port}, {"--max-conns", "50", "--max-conns-per-ip", "0", "--quiet"});
  // 50 clients that connect and send nothing at all hold every slot.
  std::vector<int> silent;
  for (int i = 0; i < 50; ++i) {
    silent.push_back(ConnectTcp(lb_port_));
    ASSERT_GE(silent.back(), 0);
  }
  std::this_thread::sleep_for(200ms);
  for (int i = 0; i < 3; ++i) {
    auto start = Clock::now();
    EXPECT_EQ(Via("REG roomy" + std::to_string(i)), "200 OK");  // was: waited 60 s
    EXPECT_LT(MsSince(start), 1000);
  }
  // One made room; each request's pair then left a slot for the next.
  std::string got;
  EXPECT_TRUE(ReadUntilClosed(silent[0], &got, 1000)) << "the oldest silent one was shed";
  EXPECT_FALSE(ReadUntilClosed(silent[1], &got, 100)) << "only as many as needed";
  for (int fd : silent) close(fd);
}

TEST_F(LbTest, FortyConcurrentRequestsFromOneAddressAreAllServedWithTheDefaults) {
  StartBackends();
  StartLb({a_.tcp_port, b_.tcp_port}, {"--quiet"});
  std::vector<int> fds;
  for (int i = 0; i < 40; ++i) {
    int fd = ConnectTcp(lb_port_);
    ASSERT_GE(fd, 0) << i;
    std::string line = "REG forty" + std::to_string(i) + "\n";
    ASSERT_EQ(send(fd, line.data(), line.size(), MSG_NOSIGNAL), static_cast<ssize_t>(line.size()));
    fds.push_back(fd);
  }
  int ok = 0;
  for (int fd : fds) {
    std::string reply;
    ReadUntilClosed(fd, &reply, 5000);
    ok += reply == "200 OK\n";
    close(fd);
  }
  EXPECT_EQ(ok, 40);
  // Sustained, as a load generator does: each of 40 clients reads its reply line, closes
  // without waiting for the end, and connects again at once, so its next connection can
  // arrive before the balancer has seen the previous one end.
  std::atomic<int> served{0}, failed{0};
  auto until = Clock::now() + 1500ms;
  std::vector<std::thread> clients;
  for (int i = 0; i < 40; ++i) {
    clients.emplace_back([&] {
      while (Clock::now() < until) {
        int fd = ConnectTcp(lb_port_);
        std::string reply;
        char c = 0;
        if (fd >= 0 && send(fd, "PING\n", 5, MSG_NOSIGNAL) == 5) {
          while (reply.size() < 64 && read(fd, &c, 1) == 1 && c != '\n') reply.push_back(c);
        }
        if (fd >= 0) close(fd);
        (reply == "200 OK" ? served : failed)++;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed.load(), 0) << served.load() << " served; " << lb_->Log();
  EXPECT_GT(served.load(), 400);
}

TEST_F(LbTest, AStoppedBackendIsMarkedDownByItsProbeAndStaysDownUntilItAnswersAgain) {
  StartBackends();
  StartLb({a_.tcp_port, b_.tcp_port}, {"--check-interval", "0.2", "--check-timeout", "0.3"});
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(lb_->CountLog("is DOWN"), 0) << "both answer their PING";
  b_.process->Signal(SIGSTOP);
  Continue resume{b_.process->pid()};
  // The kernel still accepts for a stopped process: only the missing reply shows it.
  ASSERT_TRUE(lb_->WaitForLog("Backend #1 \\([^)]*\\) is DOWN: no reply to PING", 2000)) << lb_->Log();
  for (int i = 0; i < 10; ++i) {
    auto start = Clock::now();
    EXPECT_EQ(Via("REG stopped" + std::to_string(i)), "200 OK");
    EXPECT_LT(MsSince(start), 1000);
  }
  EXPECT_EQ(a_.process->CountLog(" REG stopped"), 10) << "all to the running backend";
  std::this_thread::sleep_for(1s);  // five more probes, all unanswered
  EXPECT_EQ(lb_->CountLog("is UP again"), 0) << lb_->Log();
  b_.process->Signal(SIGCONT);
  ASSERT_TRUE(lb_->WaitForLog("Backend #1 \\([^)]*\\) is UP again", 2000)) << lb_->Log();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Via("REG resumed" + std::to_string(i)), "200 OK");
  // The backend may log a request a moment after its reply has left (slow under ASan).
  EXPECT_TRUE(b_.process->WaitForLog(" REG resumed[\\s\\S]* REG resumed", 2000)) << "it gets its share again";
  EXPECT_EQ(b_.process->CountLog(" REG resumed"), 2) << "its share, no more";
}

// A probe is a protocol exchange: it sends PING as proto formats it and takes only a
// reply line whose code is 200. Something that merely starts with "200" is not an
// im-server (here a test backend answering "2000 NOT A REPLY").
TEST_F(LbTest, AProbeReplyThatIsNotA200ReplyLineMarksTheBackendDown) {
  StartBackends();
  int fake_port = 0;
  int fake = ListenLoopback(16, &fake_port);
  std::atomic<int> pings{0}, others{0};
  std::thread backend([&] {
    for (;;) {
      int fd = accept(fake, nullptr, nullptr);
      if (fd < 0) return;  // shut down
      char buf[64];
      ssize_t n = read(fd, buf, sizeof buf);
      (std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) == "PING\n" ? pings : others)++;
      constexpr char kReply[] = "2000 NOT A REPLY\n";
      (void)!write(fd, kReply, sizeof kReply - 1);
      close(fd);
    }
  });
  StartLb({fake_port, a_.tcp_port}, {"--check-interval", "0.2", "--check-timeout", "0.5"});
  EXPECT_TRUE(lb_->WaitForLog("Backend #0 \\([^)]*\\) is DOWN: PING answered \"2000 NOT A REPLY\"", 2000))
      << lb_->Log();
  EXPECT_EQ(lb_->CountLog("Backend #1 .*is DOWN"), 0) << lb_->Log();
  lb_->Signal(SIGKILL);
  lb_->Wait(2000);
  shutdown(fake, SHUT_RDWR);
  backend.join();
  close(fake);
  EXPECT_GE(pings.load(), 1);
  EXPECT_EQ(others.load(), 0) << "every probe sent exactly \"PING\\n\"";
}

TEST_F(LbTest, ARequestAStoppedBackendLeavesUnansweredIsRetriedOnAnotherAndNotAppliedLate) {
  StartBackends();
  EXPECT_EQ(TcpRequest(b_.tcp_port, "REG alice"), "200 OK");
  EXPECT_EQ(TcpRequest(b_.tcp_port, "REG bob"), "200 OK");
  // Probes far apart: the passive check must find the stopped backend on its own.
  StartLb({a_.tcp_port, b_.tcp_port}, {"--response-timeout", "0.5", "--check-interval", "30"});
  a_.process->Signal(SIGSTOP);
  Continue resume{a_.process->pid()};
  auto start = Clock::now();
  // Half-closing, as nc does: the end was passed on before the reset.
  EXPECT_EQ(TcpExchange(lb_port_, "ADD alice bob\n"), "200 OK\n");  // sent to #0 first, then retried on #1
  EXPECT_GE(MsSince(start), 450);
  EXPECT_LT(MsSince(start), 2000);
  EXPECT_TRUE(lb_->WaitForLog("Backend #0 \\([^)]*\\) is DOWN: no reply within --response-timeout", 100))
      << lb_->Log();
  EXPECT_EQ(lb_->CountLog("Retrying client -> backend #1"), 1);
  EXPECT_EQ(b_.process->CountLog(" ADD alice -> 200 OK"), 1);
  // Down until it answers: the next request goes straight to #1, and undoes the ADD.
  start = Clock::now();
  EXPECT_EQ(Via("DEL alice bob"), "200 OK");
  EXPECT_LT(MsSince(start), 400);
  // Resumed, the backend finds the reset connection in its accept queue. The kernel
  // still holds the request bytes (docs/DESIGN.md), but the connection is dropped unread,
  // so the stale ADD does not land after the DEL.
  a_.process->Signal(SIGCONT);
  EXPECT_EQ(TcpRequest(a_.tcp_port, "PING"), "200 OK");
  std::this_thread::sleep_for(300ms);  // a commit would have happened by now
  EXPECT_EQ(TcpRequest(b_.tcp_port, "DEL alice bob"), "201 NOT A BUDDY") << "the ADD was applied a second time";
  EXPECT_EQ(a_.process->CountLog(" ADD alice"), 0) << a_.process->Log();
}

// A backend that reads the request, sends the first byte of its reply, and the rest
// after `pause`: slow, not stuck.
void SlowReplyOne(int listen_fd, std::chrono::milliseconds pause) {
  int fd = accept(listen_fd, nullptr, nullptr);
  if (fd < 0) return;
  timeval tv{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char c = 0;
  while (read(fd, &c, 1) == 1 && c != '\n') {
  }
  (void)!write(fd, "2", 1);
  std::this_thread::sleep_for(pause);
  (void)!write(fd, "00 SLOW\n", 7);
  close(fd);
}

TEST_F(LbTest, ASlowBackendThatHasBegunItsReplyIsNotRetried) {
  StartBackends();
  int slow_port = 0;
  int slow_fd = ListenLoopback(4, &slow_port);
  std::thread slow(SlowReplyOne, slow_fd, 800ms);
  StartLb({slow_port, a_.tcp_port}, {"--response-timeout", "0.3", "--check-interval", "30"});
  EXPECT_EQ(Via("REG slowpoke"), "200 SLOW");
  slow.join();
  close(slow_fd);
  EXPECT_EQ(lb_->CountLog("is DOWN"), 0) << lb_->Log();
  EXPECT_EQ(lb_->CountLog("Retrying"), 0) << lb_->Log();
  EXPECT_EQ(a_.process->CountLog(" REG slowpoke"), 0) << "never sent twice";
}

TEST_F(LbTest, AClientThatSendsHalfALineAndWaitsDoesNotMakeItsBackendLookStuck) {
  // The servers wait 1.5 s for a whole line, longer than --response-timeout.
  a_ = StartServer(dir_.File("im.db"), dir_.File("a.log"), {"--idle-timeout", "1.5"});
  b_ = StartServer(dir_.File("im.db"), dir_.File("b.log"), {"--idle-timeout", "1.5"});
  StartLb({a_.tcp_port, b_.tcp_port}, {"--response-timeout", "0.3", "--check-interval", "30"});
  int fd = ConnectTcp(lb_port_);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, "REG tri", 7, MSG_NOSIGNAL), 7);
  std::this_thread::sleep_for(700ms);  // the server waits for the rest of the line
  ASSERT_EQ(send(fd, "ckle\n", 5, MSG_NOSIGNAL), 5);
  std::string got;
  EXPECT_TRUE(ReadUntilClosed(fd, &got, 2000));
  EXPECT_EQ(got, "200 OK\n");
  close(fd);
  EXPECT_EQ(lb_->CountLog("is DOWN"), 0) << lb_->Log();  // was: down at 0.3 s, and retried
  EXPECT_EQ(lb_->CountLog("Retrying"), 0) << lb_->Log();
  // A backend that ends a connection without a reply is not stuck either.
  int quiet = ConnectTcp(lb_port_);
  ASSERT_GE(quiet, 0);
  ASSERT_EQ(send(quiet, "R", 1, MSG_NOSIGNAL), 1);
  got.clear();
  auto start = Clock::now();
  EXPECT_TRUE(ReadUntilClosed(quiet, &got, 4000)) << "the server's own idle timeout, passed on";
  EXPECT_GE(MsSince(start), 1200);
  EXPECT_EQ(got, "");
  close(quiet);
  EXPECT_EQ(lb_->CountLog("is DOWN"), 0) << lb_->Log();
}

// Lowers `pid`'s descriptor limit so that exactly `spare` more descriptors can be opened.
rlimit LeaveSpareDescriptors(pid_t pid, int spare) {
  std::vector<int> open;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    open.push_back(std::stoi(entry.path().filename().string()));
  }
  rlimit old{};
  prlimit(pid, RLIMIT_NOFILE, nullptr, &old);
  for (rlim_t limit = 1;; ++limit) {
    auto below = static_cast<rlim_t>(std::count_if(open.begin(), open.end(), [&](int fd) { return static_cast<rlim_t>(fd) < limit; }));
    if (limit - below == static_cast<rlim_t>(spare)) {
      rlimit lowered{limit, old.rlim_max};
      EXPECT_EQ(prlimit(pid, RLIMIT_NOFILE, &lowered, nullptr), 0);
      return old;
    }
  }
}

TEST_F(LbTest, OutOfDescriptorsOnConnectMarksNoBackendDown) {
  StartBackends();
  StartLb({a_.tcp_port, b_.tcp_port}, {"--check-interval", "30"});
  EXPECT_EQ(Via("REG before"), "200 OK");
  std::this_thread::sleep_for(100ms);  // its descriptors are closed
  // One descriptor left: the accept takes it, the connect to the backend cannot.
  rlimit old = LeaveSpareDescriptors(lb_->pid(), 1);
  EXPECT_EQ(Via("REG starved"), "503 NO BACKEND AVAILABLE");
  EXPECT_TRUE(lb_->WaitForLog("too many open files \\(a local error: the backend stays up\\)", 500)) << lb_->Log();
  ASSERT_EQ(prlimit(lb_->pid(), RLIMIT_NOFILE, &old, nullptr), 0);
  EXPECT_EQ(lb_->CountLog("is DOWN"), 0) << lb_->Log();  // was: both backends DOWN
  auto start = Clock::now();
  EXPECT_EQ(Via("REG after0"), "200 OK");
  EXPECT_EQ(Via("REG after1"), "200 OK");
  EXPECT_LT(MsSince(start), 500) << "no probe needed: both stayed up";
  EXPECT_EQ(a_.process->CountLog(" REG after"), 1);
  EXPECT_EQ(b_.process->CountLog(" REG after"), 1);
}

TEST_F(LbTest, OutOfDescriptorsForAProbeMarksNoBackendDown) {
  StartBackends();
  StartLb({a_.tcp_port, b_.tcp_port}, {"--check-interval", "0.1"});
  std::this_thread::sleep_for(300ms);
  rlimit old = LeaveSpareDescriptors(lb_->pid(), 0);
  EXPECT_TRUE(lb_->WaitForLog("health probe of backend #[01]: too many open files \\(a local error", 1000)) << lb_->Log();
  std::this_thread::sleep_for(300ms);
  ASSERT_EQ(prlimit(lb_->pid(), RLIMIT_NOFILE, &old, nullptr), 0);
  EXPECT_EQ(lb_->CountLog("is DOWN"), 0) << lb_->Log();
  EXPECT_EQ(Via("REG fed"), "200 OK");
}

}  // namespace
}  // namespace im::test
