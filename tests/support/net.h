// Blocking loopback sockets with timeouts, for tests only (the programs use libuv).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace im::test {

// Connects to 127.0.0.1:port; returns the fd or -1. The fd has 5 s send/receive timeouts.
int ConnectTcp(int port);

// Sends `bytes` on a new connection, half-closes, and returns everything received until
// the server closes (or "" on connect failure / timeout).
std::string TcpExchange(int port, std::string_view bytes, int timeout_ms = 5000);

// Sends one request line ("\n" appended) and returns the reply without its "\n".
std::string TcpRequest(int port, std::string_view line, int timeout_ms = 5000);

// Reads until the peer closes or the timeout passes; true if the peer closed.
bool ReadUntilClosed(int fd, std::string* out, int timeout_ms);

class UdpClient {
 public:
  UdpClient();  // bound to 127.0.0.1, a kernel-chosen port
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
};

}  // namespace im::test
