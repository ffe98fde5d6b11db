// One TCP request of a slot over TLS: connect, handshake (offering the slot's last
// session when resumption is on), write the request line, read one reply line, close.
// The TLS itself is net::TlsStream, the same memory-BIO stream im-client uses, so the
// bench measures the server's handshakes against the client code users run.
// Loop thread only.
//
// Rules as tcp_call's: the slot points at its current call (slot.tls_call); a call that
// is closed or no longer current reports nothing. A TlsCall is freed when it closes (its
// stream is abandoned, so no callback reaches it afterwards).
#pragma once

#include <openssl/ssl.h>
#include <uv.h>

#include <cstdint>
#include <string>

#include "tools/loadgen/slot.h"

namespace im::loadgen {

struct TlsTarget {
  SSL_CTX* ctx = nullptr;   // a client context that verifies the server (net::MakeClientTlsContext)
  std::string name;         // the name the certificate must carry
  bool resume = true;       // offer the slot's last session
  uint64_t* handshakes = nullptr;  // completed handshakes, and how many of them resumed
  uint64_t* resumed = nullptr;
};

struct TlsCall;

// Starts slot.request over a new TLS connection to `to`; the outcome goes to slot.events
// (always from the loop). Returns 0.
int StartTlsCall(uv_loop_t* loop, const sockaddr* to, const TlsTarget& target, Slot& slot);

// Idempotent through the slot: detaches the call and frees it.
void CloseTlsCall(TlsCall* call);

// Frees the session a slot kept for resumption.
void ForgetTlsSession(Slot& slot);

}  // namespace im::loadgen
