// Fuzzes the TCP request path as the server runs it: line framing, then ParseRequest.
// Properties: any Request it accepts (passwords and proofs included) formats back to a
// line that parses to the same Request, whose signed text is the line without its MAC;
// a session grant parsed from a reply line formats back the same.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "proto/line.h"
#include "proto/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  im::proto::LineBuffer buffer(im::proto::kMaxLineBytes);
  buffer.Append(bytes);
  std::string line;
  while (buffer.Next(&line) == im::proto::LineBuffer::Result::kLine) {
    if (line.size() > im::proto::kMaxLineBytes) abort();
    auto parsed = im::proto::ParseRequest(line);
    if (auto* request = std::get_if<im::proto::Request>(&parsed)) {
      std::string again = im::proto::FormatRequest(*request);
      again.pop_back();
      auto reparsed = im::proto::ParseRequest(again);
      auto* back = std::get_if<im::proto::Request>(&reparsed);
      if (back == nullptr || back->verb != request->verb || back->user != request->user ||
          back->buddy != request->buddy || back->password != request->password ||
          im::proto::FormatProof(back->proof) != im::proto::FormatProof(request->proof)) {
        abort();
      }
      // The signed text is the line without ".<mac>": a prefix of the line itself.
      if (!request->proof.empty()) {
        std::string signed_text = im::proto::SignedText(*request);
        if (again.compare(0, signed_text.size(), signed_text) != 0 ||
            again.size() != signed_text.size() + 1 + request->proof.mac.size()) {
          abort();
        }
      }
    } else {
      auto reply = std::get<im::proto::Reply>(parsed);
      if (im::proto::ReplyLine(reply).back() != '\n') abort();
    }
  }
  // Grants on reply lines, as a client reads them: a parsed one formats back the same.
  if (auto grant = im::proto::ParseGrant(bytes)) {
    auto again = im::proto::ParseGrant(im::proto::FormatGrantReply(im::proto::Reply::kLoggedIn, *grant));
    if (!again || again->session != grant->session || again->key != grant->key ||
        again->expires_ms != grant->expires_ms || again->server_now_ms != grant->server_now_ms) {
      abort();
    }
  }
  // Reply lines as a client reads them.
  if (auto status = im::proto::ParseReplyLine(bytes)) {
    if (status->code < 100 || status->code > 999) abort();
  }
  return 0;
}
