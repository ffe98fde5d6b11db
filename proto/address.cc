#include "proto/address.h"

#include "proto/line.h"

namespace im::proto {

bool SplitHostPort(std::string_view text, std::string_view default_host, HostPort* out) {
  std::string_view host = default_host, port = text;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find("]:");
    if (close == std::string_view::npos) return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else if (size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return false;  // bare IPv6 needs brackets
  }
  if (host.empty() || !ParsePort(port, &out->port)) return false;
  out->host.assign(host);
  return true;
}

}  // namespace im::proto
