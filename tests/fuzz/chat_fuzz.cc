// Fuzzes what a client parses from a chat peer (framing, then ParseChatLine, the encrypted
// handshake's lines included) and from its
// command line (SplitHostPort). Properties: a parsed HELLO or MSG formats back to a line
// that parses the same (a message as its printable form); shown text never holds a control byte.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "proto/address.h"
#include "proto/chat.h"
#include "proto/text.h"
#include "proto/line.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  im::proto::LineBuffer buffer(im::proto::kMaxChatWireBytes);
  buffer.Append(bytes);
  std::string line;
  while (buffer.Next(&line) == im::proto::LineBuffer::Result::kLine) {
    im::proto::ChatLine chat = im::proto::ParseChatLine(line);
    // The encrypted handshake's lines format back to lines that parse the same.
    if (chat.encrypted() || chat.kind == im::proto::ChatKind::kReady || chat.kind == im::proto::ChatKind::kRecord) {
      std::string again;
      if (chat.kind == im::proto::ChatKind::kHello) {
        again = im::proto::FormatSecureHello(chat.arg, chat.ephemeral, chat.identity);
      } else if (chat.kind == im::proto::ChatKind::kOk) {
        again = im::proto::FormatSecureOk(chat.ephemeral, chat.identity, chat.header, chat.confirm);
      } else if (chat.kind == im::proto::ChatKind::kReady) {
        again = im::proto::FormatReady(chat.header, chat.confirm);
      } else if (chat.kind == im::proto::ChatKind::kRecord) {
        again = im::proto::FormatRecord(chat.arg);
      } else {
        abort();  // nothing else has keys
      }
      again.pop_back();
      im::proto::ChatLine back = im::proto::ParseChatLine(again);
      if (back.kind != chat.kind || back.arg != chat.arg || back.ephemeral != chat.ephemeral ||
          back.identity != chat.identity || back.header != chat.header || back.confirm != chat.confirm) {
        abort();
      }
      continue;
    }
    if (chat.kind == im::proto::ChatKind::kHello || chat.kind == im::proto::ChatKind::kMessage) {
      std::string again = chat.kind == im::proto::ChatKind::kHello ? im::proto::FormatHello(chat.arg)
                                                                   : im::proto::FormatMessage(chat.arg);
      again.pop_back();
      im::proto::ChatLine back = im::proto::ParseChatLine(again);
      // A message is sent as its printable form (Printable is idempotent), a name as is.
      std::string expected = chat.kind == im::proto::ChatKind::kHello
                                 ? chat.arg
                                 : im::proto::Printable(chat.arg.substr(0, im::proto::kMaxChatLineBytes - 4));
      if (back.kind != chat.kind || back.arg != expected) abort();
    }
    for (char c : im::proto::Printable(chat.arg)) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) abort();
    }
  }
  im::proto::HostPort hp;
  if (im::proto::SplitHostPort(bytes, "127.0.0.1", &hp) && (hp.port > 65535 || hp.host.empty())) abort();
  return 0;
}
