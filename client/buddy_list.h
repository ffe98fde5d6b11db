// What the client accepts as a buddy list from a GET reply. The reply is remote input:
// beyond proto's grammar, an address must be a numeric IP (it is dialled as given, so a
// name would mean a lookup the peer chose) and the list no longer than a server ever
// sends. Pure.
#pragma once

#include <vector>

#include "proto/presence.h"

namespace im::client {

// True if every buddy's IP is a numeric IPv4 or IPv6 address (an offline buddy's is
// "unknown"; net::IsNumericIp), ids are strictly ascending (no duplicate can shadow another) and there are
// at most proto::kMaxBuddies of them.
bool IsAcceptableBuddyList(const std::vector<proto::BuddyStatus>& buddies);

}  // namespace im::client
