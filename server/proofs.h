// The server's side of proofs: session keys derived from the shared secret, and the
// checks every proof passes (its session's user and expiry, the time window, the MAC).
// Counters are checked where they are kept: the store for ADD/DEL (inside the batch, so
// no two servers accept the same one), the presence path's replay windows for datagrams.
// No I/O. Loop thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "auth/keys.h"
#include "proto/request.h"

namespace im::server {

enum class ProofCheck {
  kOk,
  kNoSecret,    // the shared secret is not loaded yet
  kNoSession,   // unknown session, or another user's
  kExpired,
  kOutOfWindow, // the proof's time is more than kWindowMs from the server's clock
  kBadMac,
};

const char* ProofCheckName(ProofCheck check) noexcept;

class Proofs {
 public:
  // How far a proof's time may be from the server's clock: the client's estimate of the
  // server clock drifts and datagrams wait in queues; a recorded proof is worthless after.
  static constexpr int64_t kWindowMs = 30000;

  void SetSecret(std::string secret) { secret_ = std::move(secret); }
  bool ready() const { return !secret_.empty(); }
  const std::string& secret() const { return secret_; }

  // The MAC key of a session, as the grant carries it (raw 32 bytes).
  std::string KeyFor(std::string_view session, std::string_view user, int64_t expires_ms) const;

  // The same key, ready to check MACs with (invalid while the secret is not loaded).
  auth::MacKey MacKeyFor(std::string_view session, std::string_view user, int64_t expires_ms) const;

  // `session_user` / `session_expires_ms`: the session row proof.session names.
  ProofCheck Check(const proto::Proof& proof, std::string_view signed_text, std::string_view user,
                   std::string_view session_user, int64_t session_expires_ms, int64_t now_ms) const;
  // Check with the session's key already at hand (MacKeyFor of the same session row):
  // what the presence path does for the sessions it caches.
  ProofCheck CheckWith(const auth::MacKey& key, const proto::Proof& proof, std::string_view signed_text,
                       std::string_view user, std::string_view session_user, int64_t session_expires_ms,
                       int64_t now_ms) const;

 private:
  std::string secret_;
};

}  // namespace im::server
