#include "tests/support/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace im::test {
namespace {

// A numeric IPv4 or IPv6 address and port.
sockaddr_storage Address(const std::string& ip, int port, socklen_t* len) {
  sockaddr_storage addr{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof *v4;
  } else if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof *v6;
  } else {
    *len = 0;
  }
  return addr;
}

}  // namespace

int ConnectTcp(int port, const std::string& host, const std::string& from) {
  socklen_t len = 0;
  sockaddr_storage addr = Address(host, port, &len);
  if (len == 0) return -1;
  int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (!from.empty()) {
    socklen_t local_len = 0;
    sockaddr_storage local = Address(from, 0, &local_len);
    if (local_len == 0 || bind(fd, reinterpret_cast<sockaddr*>(&local), local_len) != 0) {
      close(fd);
      return -1;
    }
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool ReadUntilClosed(int fd, std::string* out, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
    out->append(buf, static_cast<size_t>(n));
  }
}

std::string TcpExchange(int port, std::string_view bytes, int timeout_ms, const std::string& host) {
  int fd = ConnectTcp(port, host);
  if (fd < 0) return "";
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  std::string reply;
  ReadUntilClosed(fd, &reply, timeout_ms);
  close(fd);
  return reply;
}

std::string TcpRequest(int port, std::string_view line, int timeout_ms, const std::string& host) {
  std::string reply = TcpExchange(port, std::string(line) + "\n", timeout_ms, host);
  if (!reply.empty() && reply.back() == '\n') reply.pop_back();
  return reply;
}

UdpClient::UdpClient(const std::string& ip) {
  socklen_t len = 0;
  sockaddr_storage addr = Address(ip, 0, &len);
  v6_ = addr.ss_family == AF_INET6;
  fd_ = socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  bind(fd_, reinterpret_cast<sockaddr*>(&addr), len);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  local_port_ = ntohs(v6_ ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                          : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

UdpClient::~UdpClient() {
  if (fd_ >= 0) close(fd_);
}

void UdpClient::Send(int port, std::string_view datagram) const {
  socklen_t len = 0;
  sockaddr_storage addr = Address(v6_ ? "::1" : "127.0.0.1", port, &len);
  sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&addr), len);
}

std::optional<std::string> UdpClient::Receive(int timeout_ms) const {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
  std::string buf(65536, '\0');
  ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
  if (n < 0) return std::nullopt;
  buf.resize(static_cast<size_t>(n));
  return buf;
}

std::optional<std::string> UdpClient::Ask(int port, std::string_view datagram,
                                          int timeout_ms) const {
  Send(port, datagram);
  return Receive(timeout_ms);
}

std::vector<std::string> TcpRequestsAtOnce(const std::vector<std::pair<int, std::string>>& requests) {
  std::vector<int> fds;
  for (const auto& [port, line] : requests) {
    int fd = ConnectTcp(port);
    std::string bytes = line + "\n";
    if (fd >= 0) send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    fds.push_back(fd);
  }
  std::vector<std::string> replies;
  for (int fd : fds) {
    std::string reply;
    if (fd >= 0) {
      ReadUntilClosed(fd, &reply, 5000);
      close(fd);
    }
    if (!reply.empty() && reply.back() == '\n') reply.pop_back();
    replies.push_back(reply);
  }
  return replies;
}

}  // namespace im::test
