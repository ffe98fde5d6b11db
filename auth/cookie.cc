#include "auth/cookie.h"

#include <sodium.h>

#include "auth/keys.h"
#include "net/address.h"

namespace im::auth {

CookieJar::CookieJar(std::string_view shared_secret) : key_(DeriveKey(shared_secret, "cookie", "")) {}

std::string CookieJar::For(const sockaddr* from, int64_t epoch) const {
  std::string material = net::IpKey(from) + ":" + std::to_string(net::PortOf(from)) + ":" + std::to_string(epoch);
  unsigned char out[16];
  crypto_generichash(out, sizeof out, reinterpret_cast<const unsigned char*>(material.data()), material.size(),
                     reinterpret_cast<const unsigned char*>(key_.data()), key_.size());
  return EncodeBase64Url(std::string_view(reinterpret_cast<char*>(out), sizeof out));
}

std::string CookieJar::Issue(const sockaddr* from, int64_t now_ms) const { return For(from, now_ms / kEpochMs); }

bool CookieJar::Valid(const sockaddr* from, std::string_view cookie, int64_t now_ms) const {
  if (cookie.size() != 22) return false;
  int64_t epoch = now_ms / kEpochMs;
  for (int64_t e : {epoch, epoch - 1}) {
    std::string expected = For(from, e);
    if (sodium_memcmp(expected.data(), cookie.data(), expected.size()) == 0) return true;
  }
  return false;
}

}  // namespace im::auth
