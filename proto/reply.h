// Every reply line the system sends, in one table: the account replies (TCP), the
// presence error replies (UDP) and the balancer's own. No I/O.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace im::proto {

// The numeric code of a reply depends on the verb's table (201 means "already
// registered" for REG and "already buddy" for ADD), so each reply is its own value.
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
  kLoggedIn,             // 210 LOGGED IN (REG with the right password), with a session grant
  kWrongPassword,        // 204 WRONG PASSWORD
  kPasswordRequired,     // 205 PASSWORD REQUIRED (the account has one, or --auth required)
  kNotProtected,         // 206 ACCOUNT HAS NO PASSWORD (REG with a password of an old-style account)
  kBadPassword,          // 207 BAD PASSWORD (8 to 128 bytes, no spaces or control bytes)
  kUnauthorized,         // 401 UNAUTHORIZED (a protected account without valid proof)
  kTryLater,             // 429 TRY LATER (too many failed logins, or the hashing queue is full)
};

// The reply line, with its "\n".
std::string_view ReplyLine(Reply reply) noexcept;
int ReplyCode(Reply reply) noexcept;

// A reply line split into code and text, as a client reads it ("200 OK" -> 200, "OK").
struct ReplyStatus {
  int code;
  std::string text;
};
std::optional<ReplyStatus> ParseReplyLine(std::string_view line);

// Which reply a line is, among `expected` (the replies one request can get; the codes in
// it are unique). Matches on the code, so a server that words a reply differently is
// still understood. nullopt for a line that is not a reply or not among them.
std::optional<Reply> ParseReply(std::string_view line, std::span<const Reply> expected);

}  // namespace im::proto
