// The peer-to-peer chat protocol between two clients (docs/PROTOCOL.md, "Chat"). No I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace im::proto {

// The longest chat line either side sends or accepts, not counting "\r\n".
inline constexpr std::size_t kMaxChatLineBytes = 1024;

enum class ChatKind {
  kHello,    // "HELLO <userid>": the caller introduces itself
  kOk,       // "OK": the callee accepts
  kBusy,     // "BUSY": the callee is already chatting
  kMessage,  // "MSG <text>": one message; text may be empty
  kBye,      // "BYE": the sender ends the chat
  kInvalid,  // anything else
};

struct ChatLine {
  ChatKind kind = ChatKind::kInvalid;
  std::string arg;  // the user id (HELLO) or the text (MSG)
};

// Parses one line (without "\r\n"). Verbs are case-sensitive; control bytes are invalid.
ChatLine ParseChatLine(std::string_view line);

std::string FormatHello(std::string_view user);
std::string FormatMessage(std::string_view text);
inline constexpr std::string_view kChatOk = "OK\n";
inline constexpr std::string_view kChatBusy = "BUSY\n";
inline constexpr std::string_view kChatBye = "BYE\n";

}  // namespace im::proto
