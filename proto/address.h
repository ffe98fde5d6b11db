// "HOST:PORT" as users type it on command lines. No I/O, no name lookup.
#pragma once

#include <string>
#include <string_view>

namespace im::proto {

struct HostPort {
  std::string host;  // without brackets for IPv6
  unsigned port = 0;
};

// Accepts "HOST:PORT", "[V6ADDR]:PORT" and "PORT" (host = default_host).
bool SplitHostPort(std::string_view text, std::string_view default_host, HostPort* out);

}  // namespace im::proto
