// One concurrency slot and what its exchanges report back to the engine that runs it.
// Loop thread only.
#pragma once

#include <openssl/ssl.h>
#include <uv.h>

#include <cstdint>
#include <string>

#include "tools/loadgen/scenario.h"

namespace im::loadgen {

struct Slot;
struct TcpCall;
struct TlsCall;
class UdpEngine;

// Where an exchange (tcp_call, udp_engine) ends. Both are called from a libuv callback,
// never from inside the call that started the exchange.
class SlotEvents {
 public:
  virtual ~SlotEvents() = default;
  // The answer arrived: the engine stops the slot's timer and judges it.
  virtual void OnReply(Slot& slot, const std::string& reply) = 0;
  // The exchange failed; `kind` is the error counted, `sample` an example for the report.
  virtual void OnFailure(Slot& slot, const std::string& kind, const std::string& sample) = 0;
};

// A UDP socket, a timer (request timeout or pacing pause), and at most one TCP connection
// at a time. Slots live in a vector sized once, before any handle is initialised, so
// their addresses never change.
struct Slot {
  SlotEvents* events = nullptr;
  int index = 0;
  uint64_t seq = 0;             // requests this slot has started
  bool busy = false;            // a request is paused, in flight or completing
  bool awaiting_udp = false;    // a datagram reply is due (timer running)
  Request request;
  uint64_t intended_us = 0;     // when the request should have gone out
  uint64_t generation = 0;      // bumps per send: stale TCP callbacks are ignored
  uv_udp_t udp;                 // udp.data == this
  uv_timer_t timer;             // timer.data == this
  bool udp_bound = false;
  std::string cookie;           // the server's address cookie for this socket, once known
  bool cookie_resent = false;   // the awaited datagram was resent with a new cookie
  UdpEngine* udp_engine = nullptr;  // set when udp is bound: its receive callbacks need it
  TcpCall* call = nullptr;      // the connection in flight, if any (plain TCP)
  TlsCall* tls_call = nullptr;  // or over TLS
  SSL_SESSION* tls_session = nullptr;  // TLS: the session to offer next (resumption)
  // A result decided inside a send call, delivered later from the loop (the engine's Defer).
  bool ready_ok = false;
  std::string ready_kind, ready_sample;
};

}  // namespace im::loadgen
