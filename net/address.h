// Socket addresses as the daemons read them from options and show them in logs. The one
// place that turns "HOST:PORT" into a sockaddr and back. No lookups except in
// ResolveHostPort, which is for start-up only.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace im::net {

// A numeric "HOST:PORT", "[V6ADDR]:PORT" or "PORT" (then `default_host`) to an address.
// "localhost" is taken as 127.0.0.1, so no caller ever waits for a name lookup.
bool ParseNumericAddress(std::string_view text, std::string_view default_host, sockaddr_storage* out);

// As ParseNumericAddress, but a host name is resolved with a blocking getaddrinfo: call
// it at start-up only, never from a loop callback. On failure *error says why.
bool ResolveHostPort(std::string_view text, std::string_view default_host, sockaddr_storage* out,
                     std::string* error);

// A numeric IPv4 ("1.2.3.4") or IPv6 ("::1") address and nothing else: no port, no
// scope, no NUL, and not "localhost" (which ParseIp takes as 127.0.0.1).
bool IsNumericIp(std::string_view text);

// A numeric IPv4 or IPv6 host (no port) and a port to an address.
bool ParseIp(std::string_view host, int port, sockaddr_storage* out);

// "1.2.3.4:5" or "[::1]:5"; "?" for a family other than IPv4/IPv6.
std::string FormatAddress(const sockaddr* addr);
std::string FormatAddress(const sockaddr_storage& addr);
// The IP alone: "1.2.3.4" or "::1" (IPv4-mapped IPv6 shown as IPv4); "?" otherwise.
std::string FormatIp(const sockaddr* addr);
int PortOf(const sockaddr* addr);
void SetPort(sockaddr_storage* addr, int port);
socklen_t AddressLength(const sockaddr* addr);

// Same family, IP and port.
bool SameAddress(const sockaddr* a, const sockaddr* b);
// Same IP, whatever the port (an IPv4-mapped IPv6 address equals its IPv4 form).
bool SameIp(const sockaddr* a, const sockaddr* b);
// The IP's bytes (4 or 16; IPv4-mapped IPv6 as 4), as a map key for per-address counts.
std::string IpKey(const sockaddr* addr);
// The same bytes into out, without allocating; returns their count (0 for another family).
size_t IpBytes(const sockaddr* addr, unsigned char out[16]);
bool IsLoopback(const sockaddr* addr);

}  // namespace im::net
