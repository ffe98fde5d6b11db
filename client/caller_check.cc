#include "client/caller_check.h"

#include "net/address.h"

namespace im::client {

CallerVerdict CheckCaller(const proto::BuddyStatus* buddy, const sockaddr* from) {
  if (buddy == nullptr) return CallerVerdict::kNotABuddy;
  if (!buddy->online) return CallerVerdict::kOffline;
  sockaddr_storage known{};
  if (!net::ParseIp(buddy->ip, 0, &known) || !net::SameIp(reinterpret_cast<const sockaddr*>(&known), from)) {
    return CallerVerdict::kWrongAddress;
  }
  return CallerVerdict::kBuddy;
}

}  // namespace im::client
