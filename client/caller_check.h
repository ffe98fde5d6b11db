// Whether a caller that said "HELLO <id>" is who it claims: anyone can connect to the chat
// port and type any id, so the claim is believed only for a buddy calling from the address
// the presence server last gave for them. Pure.
#pragma once

#include <sys/socket.h>

#include "proto/presence.h"

namespace im::client {

enum class CallerVerdict {
  kBuddy,         // a buddy, online, calling from their presence IP
  kNotABuddy,     // the id is not on our list
  kOffline,       // a buddy the last GET showed offline
  kWrongAddress,  // a buddy, but the call comes from another IP than their presence's
};

// `buddy` is the claimed id's entry in the latest buddy list (nullptr if none), `from`
// the address the call comes from. Ports are not compared: a caller's outgoing port is
// not its message port.
CallerVerdict CheckCaller(const proto::BuddyStatus* buddy, const sockaddr* from);

}  // namespace im::client
