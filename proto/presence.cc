#include "proto/presence.h"

#include <charconv>

#include "proto/line.h"
#include "proto/userid.h"

namespace im::proto {
namespace {

// Parses one buddy line of a GET reply, strictly as the server writes it.
bool ParseBuddyLine(std::string_view line, BuddyStatus* out) {
  auto words = SplitWords(line);
  if (words.size() != 5 || !IsValidUserId(words[0])) return false;
  unsigned port = 0;
  if (!ParsePort(words[4], &port)) return false;
  if (words[1] == "100" && words[2] == "ONLINE") {
    out->online = true;
  } else if (words[1] == "101" && words[2] == "OFFLINE") {
    out->online = false;
  } else {
    return false;
  }
  out->id.assign(words[0]);
  // An offline buddy has no address, whatever the line says.
  out->ip.assign(out->online ? words[3] : std::string_view("unknown"));
  out->msg_port = out->online ? static_cast<uint16_t>(port) : 0;
  return true;
}

}  // namespace

bool ParseStatus(std::string_view word, bool* online) {
  if (EqualsIgnoreCase(word, "ONLINE") || word == "100") {
    *online = true;
    return true;
  }
  if (EqualsIgnoreCase(word, "OFFLINE") || word == "101") {
    *online = false;
    return true;
  }
  return false;
}

std::variant<SetPresence, GetBuddies, DatagramError> ParseDatagram(std::string_view datagram) {
  std::string_view line = StripLineEnd(datagram);
  if (line.size() > kMaxLineBytes || HasControlBytes(line)) return DatagramError::kMalformed;
  auto words = SplitWords(line);
  if (words.empty()) return DatagramError::kMalformed;
  if (EqualsIgnoreCase(words[0], "SET")) {
    if (words.size() != 4) return DatagramError::kMalformed;
    bool online = false;
    unsigned port = 0;
    if (!ParseStatus(words[2], &online) || !ParsePort(words[3], &port)) {
      return DatagramError::kMalformed;
    }
    if (!IsValidUserId(words[1])) return DatagramError::kBadUserId;
    return SetPresence{std::string(words[1]), online, static_cast<uint16_t>(port)};
  }
  if (EqualsIgnoreCase(words[0], "GET")) {
    if (words.size() != 2) return DatagramError::kMalformed;
    if (!IsValidUserId(words[1])) return DatagramError::kBadUserId;
    return GetBuddies{std::string(words[1])};
  }
  return DatagramError::kMalformed;
}

std::optional<Reply> ErrorReplyFor(std::string_view datagram, DatagramError error) {
  auto words = SplitWords(StripLineEnd(datagram).substr(0, kMaxLineBytes));
  if (words.empty() || !EqualsIgnoreCase(words[0], "GET")) return std::nullopt;
  return error == DatagramError::kBadUserId ? Reply::kNoSuchUser : Reply::kBadRequest;
}

std::string FormatSet(std::string_view user, bool online, uint16_t msg_port) {
  std::string out = "SET ";
  out.append(user);
  out.append(online ? " ONLINE " : " OFFLINE ");
  out.append(std::to_string(msg_port));
  out += '\n';
  return out;
}

std::string FormatGet(std::string_view user) {
  std::string out = "GET ";
  out.append(user);
  out += '\n';
  return out;
}

void AppendBuddyLine(std::string* out, std::string_view id, bool online, std::string_view ip,
                     uint16_t msg_port) {
  out->append(id);
  if (!online) {
    out->append(" 101 OFFLINE unknown 0\n");
    return;
  }
  out->append(" 100 ONLINE ");
  out->append(ip);
  out->push_back(' ');
  char digits[8];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, msg_port);
  out->append(digits, end);
  out->push_back('\n');
}

GetReply ParseGetReply(std::string_view datagram) {
  GetReply reply;
  std::string_view first = StripLineEnd(datagram.substr(0, datagram.find('\n')));
  for (Reply error : kGetErrorReplies) {
    if (first != StripLineEnd(ReplyLine(error))) continue;
    reply.kind = error == Reply::kNoSuchUser   ? GetReply::Kind::kNoSuchUser
                 : error == Reply::kBadRequest ? GetReply::Kind::kBadRequest
                                               : GetReply::Kind::kServerError;
    return reply;
  }
  std::size_t pos = 0;
  while (pos < datagram.size()) {
    std::size_t nl = datagram.find('\n', pos);
    if (nl == std::string_view::npos) nl = datagram.size();
    std::string_view line = StripLineEnd(datagram.substr(pos, nl - pos));
    pos = nl + 1;
    if (line.empty()) continue;
    BuddyStatus buddy;
    if (!ParseBuddyLine(line, &buddy)) return GetReply{};  // kMalformed
    reply.buddies.push_back(std::move(buddy));
  }
  reply.kind = GetReply::Kind::kBuddies;
  return reply;
}

}  // namespace im::proto
