#include "proto/chat.h"

#include <vector>

#include "proto/line.h"
#include "proto/request.h"
#include "proto/text.h"
#include "proto/userid.h"

namespace im::proto {
namespace {

// A record is the base64url of at least the AEAD's 17 bytes: 23 characters.
constexpr std::size_t kMinRecordChars = 23;

bool IsField(std::string_view word, std::string_view name, std::size_t chars, std::string* out) {
  if (!word.starts_with(name)) return false;
  std::string_view value = word.substr(name.size());
  if ((chars != 0 && value.size() != chars) || (chars == 0 && value.size() < kMinRecordChars) ||
      !IsBase64Url(value)) {
    return false;
  }
  out->assign(value);
  return true;
}

// "HELLO <id> e= s=", "OK e= s= h= c=", "READY h= c=": the fields after the verb (and id).
bool ParseKeys(const std::vector<std::string_view>& words, std::size_t first, ChatLine* out) {
  std::size_t i = first;
  bool has_keys = out->kind != ChatKind::kReady;
  if (has_keys) {
    if (words.size() < i + 2 || !IsField(words[i], "e=", kChatPublicKeyChars, &out->ephemeral) ||
        !IsField(words[i + 1], "s=", kChatPublicKeyChars, &out->identity)) {
      return false;
    }
    i += 2;
  }
  if (out->kind == ChatKind::kHello) return i == words.size();
  return words.size() == i + 2 && IsField(words[i], "h=", kChatHeaderChars, &out->header) &&
         IsField(words[i + 1], "c=", 0, &out->confirm);
}

}  // namespace

ChatLine ParseChatLine(std::string_view line) {
  ChatLine out;
  if (line.size() > kMaxChatWireBytes || HasControlBytes(line)) return out;
  if (line.starts_with("E ")) {
    std::string_view record = line.substr(2);
    if (record.size() >= kMinRecordChars && IsBase64Url(record)) {
      out.kind = ChatKind::kRecord;
      out.arg.assign(record);
    }
    return out;
  }
  if (line.size() > kMaxChatLineBytes) return out;
  if (line == "OK") {
    out.kind = ChatKind::kOk;
  } else if (line == "BUSY") {
    out.kind = ChatKind::kBusy;
  } else if (line == "BYE") {
    out.kind = ChatKind::kBye;
  } else if (line == "MSG" || line.substr(0, 4) == "MSG ") {
    out.kind = ChatKind::kMessage;
    out.arg.assign(line.size() > 4 ? line.substr(4) : std::string_view());
  } else if (line.substr(0, 6) == "HELLO ") {
    auto words = SplitWords(line);
    if (words.size() < 2 || words[0] != "HELLO" || !IsValidUserId(words[1])) return out;
    out.kind = ChatKind::kHello;
    if (words.size() > 2 && !ParseKeys(words, 2, &out)) return ChatLine{};
    if (words.size() == 2 && line != "HELLO " + std::string(words[1])) return ChatLine{};
    out.arg.assign(words[1]);
  } else if (line.starts_with("OK ") || line.starts_with("READY ")) {
    auto words = SplitWords(line);
    out.kind = words[0] == "OK" ? ChatKind::kOk : ChatKind::kReady;
    if (!ParseKeys(words, 1, &out)) return ChatLine{};
  }
  return out;
}

std::string FormatHello(std::string_view user) {
  std::string out = "HELLO ";
  out.append(user);
  out += '\n';
  return out;
}

std::string FormatMessage(std::string_view text) {
  std::string out = "MSG ";
  out.append(Printable(text.substr(0, kMaxChatLineBytes - 4)));
  out += '\n';
  return out;
}

std::string FormatSecureHello(std::string_view user, std::string_view ephemeral, std::string_view identity) {
  std::string out = "HELLO ";
  out.append(user);
  out.append(" e=").append(ephemeral);
  out.append(" s=").append(identity);
  out += '\n';
  return out;
}

std::string FormatSecureOk(std::string_view ephemeral, std::string_view identity, std::string_view header,
                           std::string_view confirm) {
  std::string out = "OK e=";
  out.append(ephemeral);
  out.append(" s=").append(identity);
  out.append(" h=").append(header);
  out.append(" c=").append(confirm);
  out += '\n';
  return out;
}

std::string FormatReady(std::string_view header, std::string_view confirm) {
  std::string out = "READY h=";
  out.append(header);
  out.append(" c=").append(confirm);
  out += '\n';
  return out;
}

std::string FormatRecord(std::string_view record) {
  std::string out = "E ";
  out.append(record);
  out += '\n';
  return out;
}

}  // namespace im::proto
