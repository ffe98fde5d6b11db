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

namespace im::proto {

// The largest datagram either side sends or accepts: a full GET reply
// (kMaxBuddies lines of at most ~90 bytes) stays well under it.
inline constexpr std::size_t kMaxDatagramBytes = 65507;

struct SetPresence {
  std::string user;
  bool online;
  uint16_t msg_port;
};

struct GetBuddies {
  std::string user;
};

enum class DatagramError {
  kMalformed,  // not SET/GET, wrong argument count, bad status or port, control bytes
  kBadUserId,  // well-formed but the id breaks the rules, so it cannot be registered
};

// Parses one request datagram. One optional trailing "\n" or "\r\n" is allowed.
std::variant<SetPresence, GetBuddies, DatagramError> ParseDatagram(std::string_view datagram);

// What to send back for a datagram ParseDatagram rejected: a GET is answered
// (202 NO SUCH USER for an id that breaks the rules, 400 BAD REQUEST otherwise); a SET
// never is, and neither is garbage (no reply means no reflection off spoofed sources).
// nullopt means "drop it".
std::optional<Reply> ErrorReplyFor(std::string_view datagram, DatagramError error);

// "ONLINE", "OFFLINE", "100", "101" (words any case) to online/offline.
bool ParseStatus(std::string_view word, bool* online);

std::string FormatSet(std::string_view user, bool online, uint16_t msg_port);
std::string FormatGet(std::string_view user);

// The replies a GET can get instead of a buddy list.
inline constexpr Reply kGetErrorReplies[] = {Reply::kNoSuchUser, Reply::kBadRequest, Reply::kServerError};

// One buddy's line in a GET reply.
struct BuddyStatus {
  std::string id;
  bool online = false;
  std::string ip;        // "unknown" when offline
  uint16_t msg_port = 0;  // 0 when offline
};

// Appends "<id> 100 ONLINE <ip> <port>\n" or "<id> 101 OFFLINE unknown 0\n".
void AppendBuddyLine(std::string* out, std::string_view id, bool online, std::string_view ip,
                     uint16_t msg_port);


// A GET reply as the client reads it.
struct GetReply {
  enum class Kind { kBuddies, kNoSuchUser, kBadRequest, kServerError, kMalformed };
  Kind kind = Kind::kMalformed;
  std::vector<BuddyStatus> buddies;  // sorted by id as the server sent them
};
GetReply ParseGetReply(std::string_view datagram);

}  // namespace im::proto
