// The presence side of every slot: each slot's UDP socket, bound on first use, sends the
// request's datagrams to the presence port and takes the one reply that answers them.
// Like the project's client, each socket validates its address with the server's cookie
// round trip (PROTOCOL.md): it asks for a cookie when bound, adds it to every datagram,
// and on a COOKIE answer takes the new one and resends the awaited datagram once, so
// the load is measured as a real client sees the server, not through its rate limit
// for unvalidated sources. Loop thread only.
#pragma once

#include <sys/socket.h>

#include <memory>
#include <string>

#include "tools/loadgen/slot.h"

namespace im::loadgen {

class UdpEngine {
 public:
  explicit UdpEngine(const sockaddr_storage& target);

  enum class Sent {
    kAwaitingReply,  // slot.awaiting_udp is set: the caller starts the timeout
    kNoReply,        // a lone SET went out: done, successfully
    kFailed,         // *error says what failed; nothing is pending
  };
  // Sends slot.request's pre_datagrams, then its bytes. A reply later goes to
  // slot.events->OnReply, unless the slot stopped awaiting it (a timeout).
  Sent Send(Slot& slot, std::string* error);

 private:
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void OnRecv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                     unsigned flags) noexcept;
  int Bind(Slot& slot);
  // Sends the request's datagrams (the pre_datagrams too if with_pre) with the cookie.
  Sent SendDatagrams(Slot& slot, std::string* error, bool with_pre);

  sockaddr_storage target_;
  std::unique_ptr<char[]> recv_buf_;  // shared by all slots: receive is synchronous
};

}  // namespace im::loadgen
