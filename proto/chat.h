// The peer-to-peer chat protocol between two clients (docs/PROTOCOL.md, "Chat"). No I/O.
//
// A chat is plain ("HELLO <id>", "OK", "MSG <text>", "BYE") or encrypted: the HELLO and
// OK carry keys, a READY line finishes the handshake, and from then on every line is a
// record "E <base64url>" whose plaintext is a plain chat line. The keys and records are
// auth/chat_crypto.h's; this file only knows their shape.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace im::proto {

// The longest plain chat line either side sends or accepts, not counting "\r\n".
inline constexpr std::size_t kMaxChatLineBytes = 1024;
// The longest line of any kind: a record of a kMaxChatLineBytes plaintext, in base64url.
inline constexpr std::size_t kMaxChatWireBytes = 1400;

// Sizes, in base64url characters, of what the encrypted handshake carries.
inline constexpr std::size_t kChatPublicKeyChars = 43;  // an X25519 public key (32 bytes)
inline constexpr std::size_t kChatHeaderChars = 32;     // a secretstream header (24 bytes)

enum class ChatKind {
  kHello,    // "HELLO <userid>" or "HELLO <userid> e=<ephemeral> s=<static>"
  kOk,       // "OK" or "OK e=<ephemeral> s=<static> h=<header> c=<record>"
  kBusy,     // "BUSY": the callee is already chatting, or refuses the caller
  kReady,    // "READY h=<header> c=<record>": the caller's half of the encrypted handshake
  kRecord,   // "E <record>": one encrypted chat line
  kMessage,  // "MSG <text>": one message; text may be empty
  kBye,      // "BYE": the sender ends the chat
  kInvalid,  // anything else
};

struct ChatLine {
  ChatKind kind = ChatKind::kInvalid;
  std::string arg;  // the user id (HELLO), the text (MSG), the record (E)
  // The encrypted handshake's fields, base64url as sent; empty in a plain HELLO or OK.
  std::string ephemeral;  // e=
  std::string identity;   // s=
  std::string header;     // h=
  std::string confirm;    // c=: the first record of the sender's stream
  bool encrypted() const { return !ephemeral.empty(); }
};

// Parses one line (without "\r\n"). Verbs are case-sensitive; control bytes are invalid.
// Lines over kMaxChatWireBytes, and plain ones over kMaxChatLineBytes, are invalid.
ChatLine ParseChatLine(std::string_view line);

std::string FormatHello(std::string_view user);
std::string FormatMessage(std::string_view text);
inline constexpr std::string_view kChatOk = "OK\n";
inline constexpr std::string_view kChatBusy = "BUSY\n";
inline constexpr std::string_view kChatBye = "BYE\n";

// The encrypted handshake's lines and records, from base64url fields.
std::string FormatSecureHello(std::string_view user, std::string_view ephemeral, std::string_view identity);
std::string FormatSecureOk(std::string_view ephemeral, std::string_view identity, std::string_view header,
                           std::string_view confirm);
std::string FormatReady(std::string_view header, std::string_view confirm);
std::string FormatRecord(std::string_view record);

}  // namespace im::proto
