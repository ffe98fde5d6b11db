// Fuzzes the UDP request parser the server runs on every datagram, and the error-reply
// policy. Property: accepted SET/GET datagrams format back to themselves semantically.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "proto/presence.h"
#include "proto/reply.h"

namespace {

// The datagram formatted again from its parts (in the client's spelling), with its proof
// (if any) appended the way a client signs it.
std::string signed_by_client;
std::string Resigned(const std::string& unsigned_text, const im::proto::DatagramCredentials& c) {
  signed_by_client.clear();
  if (c.proof.empty()) return unsigned_text;
  signed_by_client = im::proto::DatagramSignedText(unsigned_text, c.proof);
  return im::proto::SignedDatagram(signed_by_client, c.proof.mac);
}

// `back` parsed from Resigned(a): the same cookie and proof, and the signed text the
// server checks is the one the client signed.
bool SameCredentials(const im::proto::DatagramCredentials& back, const im::proto::DatagramCredentials& a) {
  return back.cookie == a.cookie && im::proto::FormatProof(back.proof) == im::proto::FormatProof(a.proof) &&
         back.signed_text == signed_by_client;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view datagram(reinterpret_cast<const char*>(data), size);
  auto parsed = im::proto::ParseDatagram(datagram);
  if (auto* set = std::get_if<im::proto::SetPresence>(&parsed)) {
    std::string text = im::proto::FormatSet(set->user, set->online, set->msg_port, set->credentials.cookie);
    auto again = im::proto::ParseDatagram(Resigned(text, set->credentials));
    auto* back = std::get_if<im::proto::SetPresence>(&again);
    if (back == nullptr || back->user != set->user || back->online != set->online ||
        back->msg_port != set->msg_port || !SameCredentials(back->credentials, set->credentials)) {
      abort();
    }
  } else if (auto* get = std::get_if<im::proto::GetBuddies>(&parsed)) {
    std::string text = im::proto::FormatGet(get->user, get->credentials.cookie);
    auto again = im::proto::ParseDatagram(Resigned(text, get->credentials));
    auto* back = std::get_if<im::proto::GetBuddies>(&again);
    if (back == nullptr || back->user != get->user || !SameCredentials(back->credentials, get->credentials)) abort();
  } else {
    auto reply = im::proto::ErrorReplyFor(datagram, std::get<im::proto::DatagramError>(parsed));
    if (reply && im::proto::ReplyLine(*reply).back() != '\n') abort();
  }
  return 0;
}
