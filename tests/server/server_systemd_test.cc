// systemd integration: readiness notification (NOTIFY_SOCKET) and socket activation
// (LISTEN_FDS), both exercised with the real binary and no systemd.
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <regex>

#include "tests/server/server_fixture.h"

namespace im::test {
namespace {

// A unix datagram socket standing in for systemd's notification socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  }
  ~NotifySocket() { close(fd_); }
  // Waits for the next notification; "" on timeout.
  std::string Next(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return "";
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_;
};

TEST_F(ServerTest, ReadyIsSentOnlyOnceThePortsAnswer) {
  NotifySocket notify(dir_.File("notify"));
  auto p = Process::Start({BinaryPath("IM_SERVER"), "--tcp-port", "0", "--udp-port", "0", "--db", db()},
                          log(), {"NOTIFY_SOCKET=" + notify.path()});
  ASSERT_TRUE(p);
  std::string ready = notify.Next(5000);
  ASSERT_NE(ready.find("READY=1"), std::string::npos) << ready;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(ready, m, std::regex("tcp port ([0-9]+), udp port ([0-9]+)"))) << ready;
  int tcp = std::stoi(m[1]), udp = std::stoi(m[2]);
  // Straight after READY, with no waiting: both sockets serve.
  EXPECT_EQ(TcpRequest(tcp, "REG ready"), "200 OK");
  EXPECT_EQ(udp_.Ask(udp, "GET ready"), "");
  p->Signal(SIGTERM);
  EXPECT_NE(notify.Next(2000).find("STOPPING=1"), std::string::npos);
  EXPECT_EQ(p->Wait(3000), 0);
}

TEST_F(ServerTest, SocketActivationUsesTheHandedOverSockets) {
  // Pre-bound sockets, as systemd would create them from im-server.socket.
  int tcp = socket(AF_INET, SOCK_STREAM, 0), udp = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(tcp, 16), 0);
  ASSERT_EQ(bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  getsockname(tcp, reinterpret_cast<sockaddr*>(&addr), &len);
  int tcp_port = ntohs(addr.sin_port);
  getsockname(udp, reinterpret_cast<sockaddr*>(&addr), &len);
  int udp_port = ntohs(addr.sin_port);

  // LISTEN_PID must be the server's own pid: let a shell export its pid, then exec.
  auto p = Process::Start(
      {"/bin/sh", "-c", "LISTEN_PID=$$ LISTEN_FDS=2 exec \"$0\" --db \"$1\"", BinaryPath("IM_SERVER"), db()},
      log(), {}, {{tcp, 3}, {udp, 4}});
  ASSERT_TRUE(p);
  close(tcp);
  close(udp);
  ASSERT_TRUE(p->WaitForLog("listening udp", 5000)) << p->Log();
  EXPECT_TRUE(p->WaitForLog("socket activation: 2 socket", 100));
  EXPECT_TRUE(p->WaitForLog("listening tcp [^ \\n]*:" + std::to_string(tcp_port), 100)) << p->Log();
  EXPECT_EQ(TcpRequest(tcp_port, "REG activated"), "200 OK");
  EXPECT_EQ(udp_.Ask(udp_port, "GET activated"), "");
  p->Signal(SIGTERM);
  EXPECT_EQ(p->Wait(3000), 0);
}

}  // namespace
}  // namespace im::test
