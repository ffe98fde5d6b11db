// What a client test puts in place of the servers: a fake presence server (a UDP socket
// that answers whatever the test says) and a fake accounts server (a TCP listener that
// serves one connection at a time), plus blocking line helpers. Loopback only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>

namespace im::test {

// A socket bound to 127.0.0.1 on a kernel-chosen port, TCP listening or UDP.
inline int BoundSocket(int type, int* port) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (type == SOCK_STREAM) listen(fd, 8);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

inline bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) > 0;
}

// Reads one line (without "\n"); nullopt on timeout or close.
inline std::optional<std::string> ReadLine(int fd, int timeout_ms) {
  std::string line;
  char c;
  while (Readable(fd, timeout_ms) && read(fd, &c, 1) == 1) {
    if (c == '\n') return line;
    line += c;
  }
  return std::nullopt;
}

// The presence server as far as the client can tell: it answers whatever the test says.
class FakePresence {
 public:
  FakePresence() { fd_ = BoundSocket(SOCK_DGRAM, &port_); }
  ~FakePresence() { close(fd_); }
  int port() const { return port_; }
  // Waits for the client's next datagram and remembers where it came from.
  std::optional<std::string> Receive(int timeout_ms = 3000) {
    if (!Readable(fd_, timeout_ms)) return std::nullopt;
    std::string buf(65536, '\0');
    socklen_t len = sizeof client_;
    ssize_t n = recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&client_), &len);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  void Reply(const std::string& datagram) {
    sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&client_), sizeof client_);
  }
  int client_port() const { return ntohs(client_.sin_port); }

 private:
  int fd_ = -1;
  int port_ = 0;
  sockaddr_in client_{};
};

// The accounts server as far as the client can tell: one request line per connection,
// answered with whatever the test says.
class FakeAccounts {
 public:
  FakeAccounts() { fd_ = BoundSocket(SOCK_STREAM, &port_); }
  ~FakeAccounts() { close(fd_); }
  int port() const { return port_; }
  // Accepts the next connection and reads its request line; nullopt on timeout.
  std::optional<std::string> Next(int timeout_ms = 3000) {
    if (conn_ >= 0) close(conn_);
    conn_ = -1;
    if (!Readable(fd_, timeout_ms)) return std::nullopt;
    conn_ = accept(fd_, nullptr, nullptr);
    return ReadLine(conn_, timeout_ms);
  }
  // Answers the request read last and closes its connection.
  void Reply(const std::string& line) {
    std::string bytes = line + "\n";
    if (write(conn_, bytes.data(), bytes.size()) < 0) return;
    close(conn_);
    conn_ = -1;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  int conn_ = -1;
};

}  // namespace im::test
