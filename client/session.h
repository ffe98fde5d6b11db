// The session a log-in with a password was granted, and the proofs it puts on requests:
// ADD/DEL lines and SET/GET datagrams (docs/PROTOCOL.md, "Passwords, sessions and
// proofs"). It holds the session key in memory only. Each proof carries the server's
// clock as the grant showed it (the offset to ours is taken at log-in) and a counter
// that only grows, one for account requests and one for datagrams, both from 1. Pure:
// the local wall clock comes in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/request.h"

namespace im::client {

class Session {
 public:
  // nullopt if the grant's key is not 32 bytes of base64url.
  static std::optional<Session> FromGrant(const proto::SessionGrant& grant, int64_t local_now_ms);

  // Sets request->proof for an ADD or DEL about to be sent.
  void Prove(proto::Request* request, int64_t local_now_ms);
  // The datagram (FormatSet/FormatGet, cookie included) with its proof, ready to send.
  std::string ProveDatagram(std::string_view unsigned_datagram, int64_t local_now_ms);

  const std::string& id() const { return session_; }
  int64_t ServerTime(int64_t local_now_ms) const { return local_now_ms + offset_ms_; }

 private:
  Session() = default;
  proto::Proof NextProof(uint64_t* counter, int64_t local_now_ms);

  std::string session_;
  std::string key_;         // 32 raw bytes
  int64_t offset_ms_ = 0;   // the server's clock minus ours, at log-in
  uint64_t account_counter_ = 0;
  uint64_t datagram_counter_ = 0;
};

// The local wall clock in milliseconds since the epoch.
int64_t WallClockMs();

}  // namespace im::client
