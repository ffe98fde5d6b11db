// The TCP account protocol: REG/ADD/DEL request lines and their one-line replies.
// See docs/PROTOCOL.md. No I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace im::proto {

enum class Verb { kReg, kAdd, kDel };

// Every reply the account protocol knows. The numeric code depends on the verb's table
// (201 means "already registered" for REG and "already buddy" for ADD).
enum class Reply {
  kOk,                   // 200 OK
  kAlreadyRegistered,    // 201 ALREADY REGISTERED
  kInvalidUserId,        // 202 INVALID USERID
  kRegistrationClosed,   // 203 REGISTRATION CLOSED
  kAlreadyBuddy,         // 201 ALREADY BUDDY
  kNoSuchUser,           // 202 NO SUCH USER
  kBuddyListFull,        // 203 BUDDY LIST FULL
  kNotABuddy,            // 201 NOT A BUDDY
  kBadRequest,           // 400 BAD REQUEST
  kServerError,          // 500 SERVER ERROR
  kNoBackend,            // 503 NO BACKEND AVAILABLE (sent by im-lb, never by im-server)
};

// A well-formed request whose answer depends on stored state.
struct Request {
  Verb verb;
  std::string user;
  std::string buddy;  // empty for REG
};

// The most buddies one list may hold: a GET reply must fit one UDP datagram.
inline constexpr int kMaxBuddies = 500;

// Parses one request line (without its "\r\n"). Returns either a Request for the store,
// or the reply to send at once: 400 for anything malformed, 202 INVALID USERID for REG
// of a bad id, 202 NO SUCH USER for ADD/DEL naming an id that cannot exist (or ADD of
// oneself).
std::variant<Request, Reply> ParseRequest(std::string_view line);

// Formats a request line with its "\n", for clients.
std::string FormatRequest(const Request& request);

// The reply line, with its "\n".
std::string_view ReplyLine(Reply reply) noexcept;
int ReplyCode(Reply reply) noexcept;

// A reply line split into code and text, as a client reads it ("200 OK" -> 200, "OK").
struct ReplyStatus {
  int code;
  std::string text;
};
std::optional<ReplyStatus> ParseReplyLine(std::string_view line);

}  // namespace im::proto
