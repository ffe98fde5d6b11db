#include "proto/chat.h"

#include "proto/line.h"
#include "proto/text.h"
#include "proto/userid.h"

namespace im::proto {

ChatLine ParseChatLine(std::string_view line) {
  ChatLine out;
  if (line.size() > kMaxChatLineBytes || HasControlBytes(line)) return out;
  if (line == "OK") {
    out.kind = ChatKind::kOk;
  } else if (line == "BUSY") {
    out.kind = ChatKind::kBusy;
  } else if (line == "BYE") {
    out.kind = ChatKind::kBye;
  } else if (line == "MSG" || line.substr(0, 4) == "MSG ") {
    out.kind = ChatKind::kMessage;
    out.arg.assign(line.size() > 4 ? line.substr(4) : std::string_view());
  } else if (line.substr(0, 6) == "HELLO " && IsValidUserId(line.substr(6))) {
    out.kind = ChatKind::kHello;
    out.arg.assign(line.substr(6));
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

}  // namespace im::proto
