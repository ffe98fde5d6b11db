// Blocking loopback sockets with timeouts, for tests only (the programs use libuv).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>
#include <string_view>

namespace im::test {

// Connects to host:port (default 127.0.0.1; "::1" works too), optionally from a chosen
// local address (any 127.x.y.z is ours on Linux: a second "host" for address limits).
// Returns the fd or -1. The fd has 5 s send/receive timeouts.
int ConnectTcp(int port, const std::string& host = "127.0.0.1", const std::string& from = "");

// Sends `bytes` on a new connection, half-closes, and returns everything received until
// the server closes (or "" on connect failure / timeout).
std::string TcpExchange(int port, std::string_view bytes, int timeout_ms = 5000, const std::string& host = "127.0.0.1");

// Sends one request line ("\n" appended) and returns the reply without its "\n".
std::string TcpRequest(int port, std::string_view line, int timeout_ms = 5000, const std::string& host = "127.0.0.1");

// Reads until the peer closes or the timeout passes; true if the peer closed.
bool ReadUntilClosed(int fd, std::string* out, int timeout_ms);
// Sends one line (port, line) on each of several connections opened at once, then reads
// every reply; the replies in order, without "\n" ("" for a connection that failed).
std::vector<std::string> TcpRequestsAtOnce(const std::vector<std::pair<int, std::string>>& requests);

class UdpClient {
 public:
  // Bound to `ip` (127.0.0.1 by default; another 127.x address or ::1 for a second
  // "host"), a kernel-chosen port. Sends go to the same loopback family.
  explicit UdpClient(const std::string& ip = "127.0.0.1");
  ~UdpClient();
  UdpClient(const UdpClient&) = delete;
  UdpClient& operator=(const UdpClient&) = delete;
  void Send(int port, std::string_view datagram) const;
  std::optional<std::string> Receive(int timeout_ms) const;
  // Sends and waits for one reply.
  std::optional<std::string> Ask(int port, std::string_view datagram, int timeout_ms = 2000) const;
  int local_port() const { return local_port_; }

 private:
  int fd_ = -1;
  int local_port_ = 0;
  bool v6_ = false;
};

}  // namespace im::test
