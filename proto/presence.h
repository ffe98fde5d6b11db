// The UDP presence protocol: SET and GET datagrams, and the buddy lines a GET returns.
// See docs/PROTOCOL.md. No I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "proto/reply.h"
#include "proto/request.h"

namespace im::proto {

// The largest datagram either side sends or accepts: a full GET reply
// (kMaxBuddies lines of at most ~90 bytes) stays well under it.
inline constexpr std::size_t kMaxDatagramBytes = 65507;

// What a datagram may carry after its arguments, in this order:
//   k=<key>     SET: the fingerprint of the sender's chat key (kChatKeyChars of base64url),
//               published with its presence so buddies can pin it (docs/PROTOCOL.md);
//               GET: "k=1", list each online buddy's fingerprint too
//   c=<cookie>  the address cookie the server gave this source (COOKIE reply): the sender
//               receives at its address, so the answer may be larger than the request
//   p=<proof>   "<session>.<ms>.<counter>.<mac>" (proto/request.h's Proof): the MAC, with
//               the session key, over the datagram up to and without ".<mac>"
struct DatagramCredentials {
  std::string cookie;       // empty if none
  Proof proof;              // empty if none
  std::string signed_text;  // what proof.mac covers; empty without a proof
};

// A chat key's fingerprint: 22 characters of base64url (16 bytes of BLAKE2b).
inline constexpr std::size_t kChatKeyChars = 22;

struct SetPresence {
  std::string user;
  bool online;
  uint16_t msg_port;
  std::string chat_key;  // fingerprint; empty if the sender published none
  DatagramCredentials credentials;
};

struct GetBuddies {
  std::string user;
  bool with_keys = false;  // "k=1": the reply lists fingerprints
  DatagramCredentials credentials;
};

// "COOKIE": asks for this source address's cookie (answered "COOKIE <cookie>", small
// enough for any unvalidated source), so a client can validate before its first GET.
struct CookieRequest {};

// A cookie is 22 characters of base64url (16 bytes of MAC).
inline constexpr std::size_t kCookieChars = 22;

enum class DatagramError {
  kMalformed,  // not SET/GET, wrong argument count, bad status or port, control bytes
  kBadUserId,  // well-formed but the id breaks the rules, so it cannot be registered
};

// Parses one request datagram. One optional trailing "\n" or "\r\n" is allowed.
std::variant<SetPresence, GetBuddies, CookieRequest, DatagramError> ParseDatagram(std::string_view datagram);

// What to send back for a datagram ParseDatagram rejected: a GET is answered
// (202 NO SUCH USER for an id that breaks the rules, 400 BAD REQUEST otherwise); a SET
// never is, and neither is garbage (no reply means no reflection off spoofed sources).
// nullopt means "drop it".
std::optional<Reply> ErrorReplyFor(std::string_view datagram, DatagramError error);

// "ONLINE", "OFFLINE", "100", "101" (words any case) to online/offline.
bool ParseStatus(std::string_view word, bool* online);

// Unsigned datagrams with their "\n"; `cookie` and `chat_key` are added when not empty,
// "k=1" when with_keys.
std::string FormatSet(std::string_view user, bool online, uint16_t msg_port, std::string_view cookie = {},
                      std::string_view chat_key = {});
std::string FormatGet(std::string_view user, std::string_view cookie = {}, bool with_keys = false);
std::string FormatCookieRequest();  // "COOKIE\n"
// For a proven datagram: `unsigned_datagram` (as formatted above) with " p=<head>" added,
// without "\n": the text to MAC. Then the datagram is SignedDatagram(text, mac).
std::string DatagramSignedText(std::string_view unsigned_datagram, const Proof& proof);
std::string SignedDatagram(std::string_view signed_text, std::string_view mac);

// The server's answer to a datagram that needs a cookie first (a GET whose reply would be
// larger than anti-amplification allows, a proof without a cookie, a stale cookie):
// "COOKIE <cookie>\n". The client resends the datagram with c=<cookie>.
std::string FormatCookieReply(std::string_view cookie);

// The replies a GET can get instead of a buddy list.
inline constexpr Reply kGetErrorReplies[] = {Reply::kNoSuchUser, Reply::kBadRequest, Reply::kServerError,
                                             Reply::kUnauthorized};

// One buddy's line in a GET reply.
struct BuddyStatus {
  std::string id;
  bool online = false;
  std::string ip;        // "unknown" when offline
  uint16_t msg_port = 0;  // 0 when offline
  std::string chat_key;   // fingerprint of the buddy's chat key; empty if none (or offline)
};

// Appends "<id> 100 ONLINE <ip> <port>\n" or "<id> 101 OFFLINE unknown 0\n"; an online
// line gets " k=<chat_key>" before its "\n" when chat_key is not empty.
void AppendBuddyLine(std::string* out, std::string_view id, bool online, std::string_view ip,
                     uint16_t msg_port, std::string_view chat_key = {});


// A GET reply as the client reads it.
struct GetReply {
  enum class Kind { kBuddies, kNoSuchUser, kBadRequest, kServerError, kUnauthorized, kCookie, kMalformed };
  Kind kind = Kind::kMalformed;
  std::vector<BuddyStatus> buddies;  // sorted by id as the server sent them
  std::string cookie;                // kCookie
};
GetReply ParseGetReply(std::string_view datagram);

}  // namespace im::proto
