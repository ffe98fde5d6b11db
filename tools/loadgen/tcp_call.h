// One TCP request of a slot: connect, write the request line, read one reply line, close.
// Loop thread only.
//
// Rules: a TcpCall owns its handle and the bytes it writes and is freed only in its close
// callback. The slot points at its current call; a callback of a call that is closed or
// no longer current (the slot timed out and moved on) does nothing.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "proto/line.h"
#include "tools/loadgen/slot.h"

namespace im::loadgen {

struct TcpCall {
  Slot* slot;
  uint64_t generation;          // the slot's generation when it started
  std::string bytes;            // the request line; alive until the close callback
  uv_tcp_t tcp;                 // tcp.data == this
  uv_connect_t connect_req;
  uv_write_t write_req;
  proto::LineBuffer in{4096};
  char buf[4096];
  bool closed = false;
};

// Starts slot.request over a new connection to `to`; the outcome goes to slot.events.
// Returns 0, or the libuv error of uv_tcp_connect: then nothing will be reported and the
// call is already closing.
int StartTcpCall(uv_loop_t* loop, const sockaddr* to, Slot& slot);

// Idempotent; detaches the call from its slot.
void CloseTcpCall(TcpCall* call);

}  // namespace im::loadgen
