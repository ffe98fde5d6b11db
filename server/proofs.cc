#include "server/proofs.h"

#include "auth/keys.h"

namespace im::server {

const char* ProofCheckName(ProofCheck check) noexcept {
  switch (check) {
    case ProofCheck::kOk: return "ok";
    case ProofCheck::kNoSecret: return "not ready";
    case ProofCheck::kNoSession: return "no such session";
    case ProofCheck::kExpired: return "session expired";
    case ProofCheck::kOutOfWindow: return "outside the time window";
    case ProofCheck::kBadMac: return "bad MAC";
  }
  return "?";
}

std::string Proofs::KeyFor(std::string_view session, std::string_view user, int64_t expires_ms) const {
  return auth::SessionKey(secret_, session, user, expires_ms);
}

auth::MacKey Proofs::MacKeyFor(std::string_view session, std::string_view user, int64_t expires_ms) const {
  if (!ready()) return auth::MacKey();
  return auth::MacKey(KeyFor(session, user, expires_ms));
}

ProofCheck Proofs::Check(const proto::Proof& proof, std::string_view signed_text, std::string_view user,
                         std::string_view session_user, int64_t session_expires_ms, int64_t now_ms) const {
  if (!ready()) return ProofCheck::kNoSecret;
  // The key depends on the session's user and expiry, so a forged row cannot borrow it.
  return CheckWith(MacKeyFor(proof.session, session_user, session_expires_ms), proof, signed_text, user, session_user,
                   session_expires_ms, now_ms);
}

ProofCheck Proofs::CheckWith(const auth::MacKey& key, const proto::Proof& proof, std::string_view signed_text,
                             std::string_view user, std::string_view session_user, int64_t session_expires_ms,
                             int64_t now_ms) const {
  if (!ready() || !key.valid()) return ProofCheck::kNoSecret;
  if (session_user != user) return ProofCheck::kNoSession;
  if (session_expires_ms <= now_ms) return ProofCheck::kExpired;
  int64_t skew = proof.time_ms - now_ms;
  if (skew > kWindowMs || skew < -kWindowMs) return ProofCheck::kOutOfWindow;
  if (!key.Verify(signed_text, proof.mac)) return ProofCheck::kBadMac;
  return ProofCheck::kOk;
}

}  // namespace im::server
