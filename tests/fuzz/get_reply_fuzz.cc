// Fuzzes the GET reply parser a client runs on whatever arrives on its UDP socket.
// Property: a parsed buddy list formats back to lines that parse to the same list.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "proto/presence.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view datagram(reinterpret_cast<const char*>(data), size);
  im::proto::GetReply reply = im::proto::ParseGetReply(datagram);
  if (reply.kind != im::proto::GetReply::Kind::kBuddies) return 0;
  std::string again;
  for (const auto& b : reply.buddies) {
    im::proto::AppendBuddyLine(&again, b.id, b.online, b.ip, b.msg_port);
  }
  im::proto::GetReply back = im::proto::ParseGetReply(again);
  if (back.kind != im::proto::GetReply::Kind::kBuddies || back.buddies.size() != reply.buddies.size()) {
    abort();
  }
  for (size_t i = 0; i < back.buddies.size(); ++i) {
    const auto& a = reply.buddies[i];
    const auto& b = back.buddies[i];
    if (a.id != b.id || a.online != b.online || a.msg_port != b.msg_port) abort();
    if (a.online && a.ip != b.ip) abort();
  }
  return 0;
}
