#include "client/session.h"

#include <chrono>

#include "auth/keys.h"
#include "proto/presence.h"

namespace im::client {

std::optional<Session> Session::FromGrant(const proto::SessionGrant& grant, int64_t local_now_ms) {
  std::optional<std::string> key = auth::DecodeBase64Url(grant.key);
  if (!key || key->size() != 32 || grant.session.empty()) return std::nullopt;
  Session s;
  s.session_ = grant.session;
  s.key_ = std::move(*key);
  s.offset_ms_ = grant.server_now_ms - local_now_ms;
  return s;
}

proto::Proof Session::NextProof(uint64_t* counter, int64_t local_now_ms) {
  proto::Proof proof;
  proof.session = session_;
  proof.time_ms = ServerTime(local_now_ms);
  proof.counter = ++*counter;
  return proof;
}

void Session::Prove(proto::Request* request, int64_t local_now_ms) {
  request->proof = NextProof(&account_counter_, local_now_ms);
  request->proof.mac = auth::Mac(key_, proto::SignedText(*request));
}

std::string Session::ProveDatagram(std::string_view unsigned_datagram, int64_t local_now_ms) {
  proto::Proof proof = NextProof(&datagram_counter_, local_now_ms);
  std::string text = proto::DatagramSignedText(unsigned_datagram, proof);
  return proto::SignedDatagram(text, auth::Mac(key_, text));
}

int64_t WallClockMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace im::client
