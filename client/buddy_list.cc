#include "client/buddy_list.h"

#include <arpa/inet.h>

#include <string>

namespace im::client {

bool IsNumericIp(std::string_view text) {
  // A NUL would end the string inet_pton sees before the text does.
  if (text.empty() || text.size() > INET6_ADDRSTRLEN || text.find('\0') != std::string_view::npos) return false;
  std::string ip(text);  // inet_pton wants a terminated string
  unsigned char bytes[sizeof(in6_addr)];
  return inet_pton(AF_INET, ip.c_str(), bytes) == 1 || inet_pton(AF_INET6, ip.c_str(), bytes) == 1;
}

bool IsAcceptableBuddyList(const std::vector<proto::BuddyStatus>& buddies) {
  if (buddies.size() > static_cast<size_t>(proto::kMaxBuddies)) return false;
  for (size_t i = 0; i < buddies.size(); ++i) {
    const proto::BuddyStatus& b = buddies[i];
    if (i > 0 && !(buddies[i - 1].id < b.id)) return false;
    if (b.online && !IsNumericIp(b.ip)) return false;
  }
  return true;
}

}  // namespace im::client
