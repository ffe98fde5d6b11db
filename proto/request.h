// The TCP account protocol: request lines and the replies each verb can get. The grammar
// is one table (request.cc): a verb is a row naming its fields, so a new verb is a new
// row and a new argument is a new Field. See docs/PROTOCOL.md. No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "proto/reply.h"

namespace im::proto {

enum class Verb {
  kReg,   // REG <user> [<password>]: register, or log in to a protected account
  kAdd,   // ADD <user> <buddy> [<proof>]
  kDel,   // DEL <user> <buddy> [<proof>]
  kPing,  // PING: "200 OK" at once, from the loop itself (the balancer's health probe)
};

// The arguments a request line can carry, each a field of Request.
enum class Field {
  kUser,      // the account the request is for
  kBuddy,     // the other account (ADD, DEL)
  kPassword,  // REG of a protected account: 8 to 128 bytes, no spaces
  kProof,     // a request for a protected account: "<session>.<ms>.<counter>.<mac>"
};

// What proves a request comes from the account's owner: the session it was granted at
// log-in, the sender's clock (server time, from the grant), a counter that only grows
// within the session, and the MAC over the request's signed text (SignedText) with the
// session's key.
struct Proof {
  std::string session;  // 22 characters of base64url
  int64_t time_ms = 0;
  uint64_t counter = 0;
  std::string mac;      // 43 characters of base64url (32 bytes)
  bool empty() const { return session.empty(); }
};

// A well-formed request whose answer depends on stored state.
struct Request {
  Verb verb = Verb::kReg;
  std::string user;
  std::string buddy;     // ADD, DEL
  std::string password;  // REG; never logged
  Proof proof;           // ADD, DEL; empty if none
};

// The most buddies one list may hold: a GET reply must fit one UDP datagram.
inline constexpr int kMaxBuddies = 500;
inline constexpr size_t kMinPasswordBytes = 8;
inline constexpr size_t kMaxPasswordBytes = 128;

// Parses one request line (without its "\r\n"). Returns either a Request for the store,
// or the reply to send at once: 400 for anything malformed (unknown verb, wrong argument
// count, control bytes, over-long), the verb's "bad id" reply for an id that breaks the
// rules (202 INVALID USERID for REG, 202 NO SUCH USER for ADD/DEL, which also covers ADD
// of oneself), 207 for a password that breaks its rules, 401 for a malformed proof.
std::variant<Request, Reply> ParseRequest(std::string_view line);

// The request line with its "\n", for clients. Fields the verb does not take are ignored.
std::string FormatRequest(const Request& request);
// What the proof's MAC covers: the request line without "\n" and without the proof's MAC
// ("ADD alice bob <session>.<ms>.<counter>"). The same text on both sides.
std::string SignedText(const Request& request);

// "REG", "ADD", "DEL", "PING": what logs name instead of the whole line.
std::string_view VerbName(Verb verb) noexcept;

// Every reply a request with this verb can get, for a client reading it (ParseReply).
std::span<const Reply> RepliesFor(Verb verb) noexcept;

// "<session>.<ms>.<counter>.<mac>" and back. Parse is strict: base64url session of 16 to
// 64 characters, decimal time and counter without leading zeros, base64url MAC of 43
// characters.
std::optional<Proof> ParseProof(std::string_view text);
std::string FormatProof(const Proof& proof);
// The proof without its MAC ("<session>.<ms>.<counter>"), the tail of a signed text.
std::string FormatProofHead(const Proof& proof);

// What a successful REG with a password carries after its reply words:
// "200 OK <session> <key> <expires_ms> <now_ms>" (new account) or
// "210 LOGGED IN <session> <key> <expires_ms> <now_ms>". Times are the server's wall
// clock in milliseconds; a client keeps the offset to its own clock for its proofs.
struct SessionGrant {
  std::string session;  // base64url
  std::string key;      // base64url, 32 bytes: the MAC key of every proof in the session
  int64_t expires_ms = 0;
  int64_t server_now_ms = 0;
};
std::string FormatGrantReply(Reply reply, const SessionGrant& grant);
// The grant in a reply line, if it carries one.
std::optional<SessionGrant> ParseGrant(std::string_view reply_line);

// True for a string of base64url characters (A-Z a-z 0-9 - _).
bool IsBase64Url(std::string_view text) noexcept;

}  // namespace im::proto
