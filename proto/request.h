// The TCP account protocol: request lines and the replies each verb can get. The grammar
// is one table (request.cc): a verb is a row naming its fields, so a new verb is a new
// row and a new argument is a new Field. See docs/PROTOCOL.md. No I/O.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "proto/reply.h"

namespace im::proto {

enum class Verb { kReg, kAdd, kDel };

// The arguments a request line can carry, each a field of Request.
enum class Field {
  kUser,   // the account the request is for
  kBuddy,  // the other account (ADD, DEL)
};

// A well-formed request whose answer depends on stored state.
struct Request {
  Verb verb = Verb::kReg;
  std::string user;
  std::string buddy;  // ADD, DEL
};

// The most buddies one list may hold: a GET reply must fit one UDP datagram.
inline constexpr int kMaxBuddies = 500;

// Parses one request line (without its "\r\n"). Returns either a Request for the store,
// or the reply to send at once: 400 for anything malformed (unknown verb, wrong argument
// count, control bytes, over-long), the verb's "bad id" reply for an id that breaks the
// rules (202 INVALID USERID for REG, 202 NO SUCH USER for ADD/DEL, which also covers ADD
// of oneself).
std::variant<Request, Reply> ParseRequest(std::string_view line);

// The request line with its "\n", for clients. Fields the verb does not take are ignored.
std::string FormatRequest(const Request& request);

// "REG", "ADD", "DEL": what logs name instead of the whole line.
std::string_view VerbName(Verb verb) noexcept;

// Every reply a request with this verb can get, for a client reading it (ParseReply).
std::span<const Reply> RepliesFor(Verb verb) noexcept;

}  // namespace im::proto
