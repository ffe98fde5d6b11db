#include "auth/cookie.h"

#include <sodium.h>

#include <charconv>
#include <cstring>

#include "auth/keys.h"
#include "net/address.h"

namespace im::auth {

CookieJar::CookieJar(std::string_view shared_secret) : key_(DeriveKey(shared_secret, "cookie", "")) {}

void CookieJar::For(const sockaddr* from, int64_t epoch, char out[kChars + 1]) const {
  // The MAC covers "<IP bytes>:<port>:<epoch>", hashed in pieces straight from the stack.
  unsigned char ip[16];
  size_t ip_len = net::IpBytes(from, ip);
  char port[8] = ":", when[24] = ":";
  char* port_end = std::to_chars(port + 1, port + sizeof port, net::PortOf(from)).ptr;
  char* when_end = std::to_chars(when + 1, when + sizeof when, epoch).ptr;
  crypto_generichash_state state;
  crypto_generichash_init(&state, reinterpret_cast<const unsigned char*>(key_.data()), key_.size(), 16);
  crypto_generichash_update(&state, ip, ip_len);
  crypto_generichash_update(&state, reinterpret_cast<unsigned char*>(port), static_cast<size_t>(port_end - port));
  crypto_generichash_update(&state, reinterpret_cast<unsigned char*>(when), static_cast<size_t>(when_end - when));
  unsigned char mac[16];
  crypto_generichash_final(&state, mac, sizeof mac);
  sodium_bin2base64(out, kChars + 1, mac, sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

std::string CookieJar::Issue(const sockaddr* from, int64_t now_ms) const {
  char cookie[kChars + 1];
  For(from, now_ms / kEpochMs, cookie);
  return std::string(cookie, kChars);
}

bool CookieJar::Valid(const sockaddr* from, std::string_view cookie, int64_t now_ms) const {
  if (cookie.size() != kChars) return false;
  int64_t epoch = now_ms / kEpochMs;
  Passed seen;
  seen.ip_len = static_cast<uint8_t>(net::IpBytes(from, seen.ip));
  seen.port = static_cast<uint16_t>(net::PortOf(from));
  // The slot: any cheap mix of the address will do (a collision only costs a MAC).
  uint64_t h = seen.port;
  for (size_t i = 0; i < seen.ip_len; ++i) h = h * 131 + seen.ip[i];
  if (memo_.empty()) memo_.resize(kMemoSlots);
  Passed& slot = memo_[(h ^ (h >> 17)) % kMemoSlots];
  if (slot.ip_len != 0 && slot.ip_len == seen.ip_len && slot.port == seen.port &&
      std::memcmp(slot.ip, seen.ip, seen.ip_len) == 0 && (slot.epoch == epoch || slot.epoch == epoch - 1) &&
      sodium_memcmp(slot.cookie, cookie.data(), kChars) == 0) {
    return true;
  }
  for (int64_t e : {epoch, epoch - 1}) {
    char expected[kChars + 1];
    For(from, e, expected);
    if (sodium_memcmp(expected, cookie.data(), kChars) == 0) {
      seen.epoch = e;
      std::memcpy(seen.cookie, expected, kChars);
      slot = seen;
      return true;
    }
  }
  return false;
}

}  // namespace im::auth
