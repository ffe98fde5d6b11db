// Whether a caller that said "HELLO <id>" is who it claims: anyone can connect to the chat
// port and type any id, so the claim is believed only for a buddy calling from the address
// the presence server last gave for them, with the chat key their presence published (a
// plain HELLO only from a buddy who published none, and only if plain chats are allowed).
// Pure.
#pragma once

#include <sys/socket.h>

#include "proto/presence.h"

namespace im::client {

enum class CallerVerdict {
  kBuddy,         // a buddy, online, calling from their presence IP
  kNotABuddy,     // the id is not on our list
  kOffline,       // a buddy the last GET showed offline
  kWrongAddress,  // a buddy, but the call comes from another IP than their presence's
  kWrongKey,      // a buddy's address, but not the key their presence published (or a
                  // plain HELLO from a buddy who publishes one: a downgrade)
  kPlainRefused,  // a plain HELLO from a buddy without a key, and plain chats are not allowed
};

// `buddy` is the claimed id's entry in the latest buddy list (nullptr if none), `from`
// the address the call comes from, `offered_key` the fingerprint of the key the HELLO
// offered (empty: a plain HELLO). Ports are not compared: a caller's outgoing port is
// not its message port.
CallerVerdict CheckCaller(const proto::BuddyStatus* buddy, const sockaddr* from, std::string_view offered_key,
                          bool allow_plain);

}  // namespace im::client
