#include "client/caller_check.h"

#include "net/address.h"

namespace im::client {

CallerVerdict CheckCaller(const proto::BuddyStatus* buddy, const sockaddr* from, std::string_view offered_key,
                          bool allow_plain) {
  if (buddy == nullptr) return CallerVerdict::kNotABuddy;
  if (!buddy->online) return CallerVerdict::kOffline;
  sockaddr_storage known{};
  if (!net::ParseIp(buddy->ip, 0, &known) || !net::SameIp(reinterpret_cast<const sockaddr*>(&known), from)) {
    return CallerVerdict::kWrongAddress;
  }
  // Fingerprints are public: compared as text.
  if (buddy->chat_key.empty()) {
    if (!offered_key.empty()) return CallerVerdict::kWrongKey;  // nothing to check it against
    return allow_plain ? CallerVerdict::kBuddy : CallerVerdict::kPlainRefused;
  }
  return offered_key == buddy->chat_key ? CallerVerdict::kBuddy : CallerVerdict::kWrongKey;
}

}  // namespace im::client
