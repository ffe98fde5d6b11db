#include "proto/presence.h"

#include <charconv>

#include "proto/line.h"
#include "proto/userid.h"

namespace im::proto {
namespace {

bool IsChatKey(std::string_view text) { return text.size() == kChatKeyChars && IsBase64Url(text); }

// Parses one buddy line of a GET reply, strictly as the server writes it. After the five
// words come optional name=value fields: "k=" is the chat key's fingerprint, others are
// skipped (a newer server may say more).
bool ParseBuddyLine(std::string_view line, BuddyStatus* out) {
  auto words = SplitWords(line);
  if (words.size() < 5 || !IsValidUserId(words[0])) return false;
  out->chat_key.clear();
  for (size_t i = 5; i < words.size(); ++i) {
    size_t eq = words[i].find('=');
    if (eq == 0 || eq == std::string_view::npos) return false;
    if (words[i].starts_with("k=")) {
      if (!IsChatKey(words[i].substr(2))) return false;
      out->chat_key.assign(words[i].substr(2));
    }
  }
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
  if (!out->online) out->chat_key.clear();
  return true;
}

// Parses the optional "k=" word at words[*i]: a fingerprint for SET, "1" for GET.
bool ParseChatKeyField(const std::vector<std::string_view>& words, size_t* i, bool is_set, std::string* key,
                       bool* with_keys) {
  if (*i >= words.size() || !words[*i].starts_with("k=")) return true;
  std::string_view value = words[*i].substr(2);
  ++*i;
  if (is_set) {
    if (!IsChatKey(value)) return false;
    key->assign(value);
    return true;
  }
  if (value != "1") return false;
  *with_keys = true;
  return true;
}

// Parses the optional "c=" and "p=" words after a datagram's arguments. `line` is the
// whole datagram line, for the signed text. False if they are malformed or out of order.
bool ParseCredentials(std::string_view line, const std::vector<std::string_view>& words, size_t first,
                      DatagramCredentials* out) {
  size_t i = first;
  if (i < words.size() && words[i].starts_with("c=")) {
    std::string_view cookie = words[i].substr(2);
    if (cookie.size() != kCookieChars || !IsBase64Url(cookie)) return false;
    out->cookie.assign(cookie);
    ++i;
  }
  if (i < words.size() && words[i].starts_with("p=")) {
    auto proof = ParseProof(words[i].substr(2));
    if (!proof) return false;
    out->proof = std::move(*proof);
    // The words are views into `line`: the signed text ends before ".<mac>".
    size_t mac_at = static_cast<size_t>(words[i].data() - line.data()) + words[i].size() - out->proof.mac.size() - 1;
    out->signed_text.assign(line.substr(0, mac_at));
    ++i;
  }
  return i == words.size();
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

std::variant<SetPresence, GetBuddies, CookieRequest, DatagramError> ParseDatagram(std::string_view datagram) {
  std::string_view line = StripLineEnd(datagram);
  if (line.size() > kMaxLineBytes || HasControlBytes(line)) return DatagramError::kMalformed;
  auto words = SplitWords(line);
  if (words.empty()) return DatagramError::kMalformed;
  if (EqualsIgnoreCase(words[0], "SET")) {
    if (words.size() < 4 || words.size() > 7) return DatagramError::kMalformed;
    bool online = false;
    unsigned port = 0;
    size_t next = 4;
    std::string chat_key;
    bool unused = false;
    DatagramCredentials credentials;
    if (!ParseStatus(words[2], &online) || !ParsePort(words[3], &port) ||
        !ParseChatKeyField(words, &next, true, &chat_key, &unused) ||
        !ParseCredentials(line, words, next, &credentials)) {
      return DatagramError::kMalformed;
    }
    if (!IsValidUserId(words[1])) return DatagramError::kBadUserId;
    if (!online) chat_key.clear();  // only an online user can be called
    return SetPresence{std::string(words[1]), online, static_cast<uint16_t>(port), std::move(chat_key),
                       std::move(credentials)};
  }
  if (EqualsIgnoreCase(words[0], "GET")) {
    if (words.size() < 2 || words.size() > 5) return DatagramError::kMalformed;
    size_t next = 2;
    std::string unused;
    bool with_keys = false;
    DatagramCredentials credentials;
    if (!ParseChatKeyField(words, &next, false, &unused, &with_keys) ||
        !ParseCredentials(line, words, next, &credentials)) {
      return DatagramError::kMalformed;
    }
    if (!IsValidUserId(words[1])) return DatagramError::kBadUserId;
    return GetBuddies{std::string(words[1]), with_keys, std::move(credentials)};
  }
  if (EqualsIgnoreCase(words[0], "COOKIE")) {
    if (words.size() != 1) return DatagramError::kMalformed;
    return CookieRequest{};
  }
  return DatagramError::kMalformed;
}

std::optional<Reply> ErrorReplyFor(std::string_view datagram, DatagramError error) {
  auto words = SplitWords(StripLineEnd(datagram).substr(0, kMaxLineBytes));
  if (words.empty() || !EqualsIgnoreCase(words[0], "GET")) return std::nullopt;
  return error == DatagramError::kBadUserId ? Reply::kNoSuchUser : Reply::kBadRequest;
}

namespace {
void AppendCookie(std::string* out, std::string_view cookie) {
  if (cookie.empty()) return;
  out->append(" c=");
  out->append(cookie);
}
}  // namespace

std::string FormatSet(std::string_view user, bool online, uint16_t msg_port, std::string_view cookie,
                      std::string_view chat_key) {
  std::string out = "SET ";
  out.append(user);
  out.append(online ? " ONLINE " : " OFFLINE ");
  out.append(std::to_string(msg_port));
  if (!chat_key.empty()) {
    out.append(" k=");
    out.append(chat_key);
  }
  AppendCookie(&out, cookie);
  out += '\n';
  return out;
}

std::string FormatGet(std::string_view user, std::string_view cookie, bool with_keys) {
  std::string out = "GET ";
  out.append(user);
  if (with_keys) out.append(" k=1");
  AppendCookie(&out, cookie);
  out += '\n';
  return out;
}

std::string FormatCookieRequest() { return "COOKIE\n"; }

std::string DatagramSignedText(std::string_view unsigned_datagram, const Proof& proof) {
  std::string out(StripLineEnd(unsigned_datagram));
  out.append(" p=");
  out.append(FormatProofHead(proof));
  return out;
}

std::string SignedDatagram(std::string_view signed_text, std::string_view mac) {
  std::string out(signed_text);
  out += '.';
  out.append(mac);
  out += '\n';
  return out;
}

std::string FormatCookieReply(std::string_view cookie) {
  std::string out = "COOKIE ";
  out.append(cookie);
  out += '\n';
  return out;
}

void AppendBuddyLine(std::string* out, std::string_view id, bool online, std::string_view ip,
                     uint16_t msg_port, std::string_view chat_key) {
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
  if (!chat_key.empty()) {
    out->append(" k=");
    out->append(chat_key);
  }
  out->push_back('\n');
}

GetReply ParseGetReply(std::string_view datagram) {
  GetReply reply;
  std::string_view first = StripLineEnd(datagram.substr(0, datagram.find('\n')));
  for (Reply error : kGetErrorReplies) {
    if (first != StripLineEnd(ReplyLine(error))) continue;
    reply.kind = error == Reply::kNoSuchUser     ? GetReply::Kind::kNoSuchUser
                 : error == Reply::kBadRequest   ? GetReply::Kind::kBadRequest
                 : error == Reply::kUnauthorized ? GetReply::Kind::kUnauthorized
                                                 : GetReply::Kind::kServerError;
    return reply;
  }
  if (first.starts_with("COOKIE ")) {
    std::string_view cookie = first.substr(7);
    if (cookie.size() != kCookieChars || !IsBase64Url(cookie) || first.size() + 1 < datagram.size()) return reply;
    reply.kind = GetReply::Kind::kCookie;
    reply.cookie.assign(cookie);
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
