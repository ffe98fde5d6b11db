// Fuzzes the UDP request parser the server runs on every datagram, and the error-reply
// policy. Property: accepted SET/GET datagrams format back to themselves semantically.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "proto/presence.h"
#include "proto/reply.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view datagram(reinterpret_cast<const char*>(data), size);
  auto parsed = im::proto::ParseDatagram(datagram);
  if (auto* set = std::get_if<im::proto::SetPresence>(&parsed)) {
    auto again = im::proto::ParseDatagram(im::proto::FormatSet(set->user, set->online, set->msg_port));
    auto* back = std::get_if<im::proto::SetPresence>(&again);
    if (back == nullptr || back->user != set->user || back->online != set->online ||
        back->msg_port != set->msg_port) {
      abort();
    }
  } else if (auto* get = std::get_if<im::proto::GetBuddies>(&parsed)) {
    auto again = im::proto::ParseDatagram(im::proto::FormatGet(get->user));
    auto* back = std::get_if<im::proto::GetBuddies>(&again);
    if (back == nullptr || back->user != get->user) abort();
  } else {
    auto reply = im::proto::ErrorReplyFor(datagram, std::get<im::proto::DatagramError>(parsed));
    if (reply && im::proto::ReplyLine(*reply).back() != '\n') abort();
  }
  return 0;
}
