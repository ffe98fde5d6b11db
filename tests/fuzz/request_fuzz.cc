// Fuzzes the TCP request path as the server runs it: line framing, then ParseRequest.
// Property: any Request it accepts formats back to a line that parses to the same Request.
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
          back->buddy != request->buddy) {
        abort();
      }
    } else {
      auto reply = std::get<im::proto::Reply>(parsed);
      if (im::proto::ReplyLine(reply).back() != '\n') abort();
    }
  }
  // Reply lines as a client reads them.
  if (auto status = im::proto::ParseReplyLine(bytes)) {
    if (status->code < 100 || status->code > 999) abort();
  }
  return 0;
}
