#include "client/buddy_list.h"

#include "net/address.h"

namespace im::client {

bool IsAcceptableBuddyList(const std::vector<proto::BuddyStatus>& buddies) {
  if (buddies.size() > static_cast<size_t>(proto::kMaxBuddies)) return false;
  for (size_t i = 0; i < buddies.size(); ++i) {
    const proto::BuddyStatus& b = buddies[i];
    if (i > 0 && !(buddies[i - 1].id < b.id)) return false;
    if (b.online && !net::IsNumericIp(b.ip)) return false;
  }
  return true;
}

}  // namespace im::client
