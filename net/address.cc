#include "net/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <uv.h>

#include <cstring>

#include "proto/address.h"

namespace im::net {
namespace {

// The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d), if it is one.
bool MappedV4(const sockaddr* addr, in_addr* out) {
  if (addr->sa_family != AF_INET6) return false;
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(addr);
  if (!IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) return false;
  std::memcpy(out, &v6->sin6_addr.s6_addr[12], 4);
  return true;
}

}  // namespace

bool IsNumericIp(std::string_view text) {
  // A NUL would end the string inet_pton sees before the text does.
  if (text.empty() || text.size() > INET6_ADDRSTRLEN || text.find('\0') != std::string_view::npos) return false;
  std::string ip(text);  // inet_pton wants a terminated string
  unsigned char bytes[sizeof(in6_addr)];
  return inet_pton(AF_INET, ip.c_str(), bytes) == 1 || inet_pton(AF_INET6, ip.c_str(), bytes) == 1;
}

bool ParseIp(std::string_view host, int port, sockaddr_storage* out) {
  std::memset(out, 0, sizeof *out);
  std::string h(host);
  if (h == "localhost") h = "127.0.0.1";
  return uv_ip4_addr(h.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0 ||
         uv_ip6_addr(h.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0;
}

bool ParseNumericAddress(std::string_view text, std::string_view default_host, sockaddr_storage* out) {
  proto::HostPort hp;
  if (!proto::SplitHostPort(text, default_host, &hp)) return false;
  return ParseIp(hp.host, static_cast<int>(hp.port), out);
}

bool ResolveHostPort(std::string_view text, std::string_view default_host, sockaddr_storage* out,
                     std::string* error) {
  proto::HostPort hp;
  if (!proto::SplitHostPort(text, default_host, &hp)) {
    *error = "bad address " + std::string(text) + " (want HOST:PORT, [V6ADDR]:PORT or PORT, port 0-65535)";
    return false;
  }
  if (ParseIp(hp.host, static_cast<int>(hp.port), out)) return true;
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(hp.host.c_str(), nullptr, &hints, &res); rc != 0) {
    *error = "cannot resolve " + hp.host + ": " + gai_strerror(rc);
    return false;
  }
  std::memset(out, 0, sizeof *out);
  std::memcpy(out, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  SetPort(out, static_cast<int>(hp.port));
  return true;
}

std::string FormatIp(const sockaddr* addr) {
  char ip[INET6_ADDRSTRLEN] = "?";
  in_addr v4;
  if (MappedV4(addr, &v4)) {
    inet_ntop(AF_INET, &v4, ip, sizeof ip);
  } else if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, ip, sizeof ip);
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, ip, sizeof ip);
  }
  return ip;
}

std::string FormatAddress(const sockaddr* addr) {
  std::string ip = FormatIp(addr);
  bool bracket = addr->sa_family == AF_INET6 && ip.find(':') != std::string::npos;
  return (bracket ? "[" + ip + "]" : ip) + ":" + std::to_string(PortOf(addr));
}

std::string FormatAddress(const sockaddr_storage& addr) {
  return FormatAddress(reinterpret_cast<const sockaddr*>(&addr));
}

int PortOf(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(addr)->sin_port);
  if (addr->sa_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_port);
  return 0;
}

void SetPort(sockaddr_storage* addr, int port) {
  if (addr->ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(addr)->sin_port = htons(static_cast<uint16_t>(port));
  } else if (addr->ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(addr)->sin6_port = htons(static_cast<uint16_t>(port));
  }
}

socklen_t AddressLength(const sockaddr* addr) {
  return addr->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

bool SameAddress(const sockaddr* a, const sockaddr* b) {
  return SameIp(a, b) && PortOf(a) == PortOf(b);
}

size_t IpBytes(const sockaddr* addr, unsigned char out[16]) {
  in_addr v4;
  if (MappedV4(addr, &v4)) {
    std::memcpy(out, &v4, 4);
    return 4;
  }
  if (addr->sa_family == AF_INET) {
    std::memcpy(out, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, 4);
    return 4;
  }
  if (addr->sa_family == AF_INET6) {
    std::memcpy(out, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, 16);
    return 16;
  }
  return 0;
}

std::string IpKey(const sockaddr* addr) {
  unsigned char bytes[16];
  size_t n = IpBytes(addr, bytes);
  return std::string(reinterpret_cast<const char*>(bytes), n);
}

bool SameIp(const sockaddr* a, const sockaddr* b) {
  unsigned char x[16], y[16];
  size_t n = IpBytes(a, x);
  return n > 0 && n == IpBytes(b, y) && std::memcmp(x, y, n) == 0;
}

bool IsLoopback(const sockaddr* addr) {
  unsigned char bytes[16];
  size_t n = IpBytes(addr, bytes);
  if (n == 4) return bytes[0] == 127;
  if (n == 16) return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr);
  return false;
}

}  // namespace im::net
