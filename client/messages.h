// What the client tells its user, in words, about a server's answer to ADD/DEL and about
// the end of a chat. Every remote string in them goes through proto::Printable. Pure
// (libuv only for the name of an error).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "client/caller_check.h"
#include "client/peer_conn.h"
#include "proto/reply.h"
#include "proto/request.h"

namespace im::client {

// The answer to ADD or DEL of `buddy`: `reply` is the typed reply (nullopt for a line
// the verb cannot get), `line` the line as the server sent it, quoted at the end.
std::string BuddyReplyWords(proto::Verb verb, std::string_view buddy, std::optional<proto::Reply> reply,
                            std::string_view line);

// A REG that did not log us in as `user` (any reply but 200, 201 and 210), in words,
// with the line quoted. `with_password` says whether the REG carried one.
std::string LoginFailureWords(std::string_view user, std::optional<proto::Reply> reply, std::string_view line,
                              bool with_password);

// Why a chat, or a call, with `peer` is over; empty for kNoHello (nothing to tell).
// `status` is the libuv error of kUnreachable.
std::string PeerEndWords(PeerConn::End end, std::string_view peer, int status);

// A caller refused because it is not who it claims (`verdict` is not kBuddy): it said
// HELLO `claimed` from `from_ip`. `held_back` more were refused since the last notice.
std::string RefusedCallerWords(CallerVerdict verdict, std::string_view claimed, std::string_view from_ip,
                               uint64_t held_back);
// Why we do not call `buddy`: their client publishes no chat key and plain chats are off.
std::string PlainRefusedWords(std::string_view buddy);
// Appended to "Chatting with ...": whether the chat is end-to-end encrypted, said plainly.
std::string ChatPrivacyWords(bool encrypted, std::string_view peer);

// A buddy's call refused because a chat or a command is under way.
std::string BusyCallerWords(std::string_view peer, uint64_t held_back);

}  // namespace im::client
