#include "auth/keys.h"

#include <sodium.h>

#include <cstring>

namespace im::auth {
namespace {
const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
}  // namespace

bool Init() { return sodium_init() >= 0; }

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

std::string EncodeBase64Url(std::string_view bytes) {
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), Bytes(bytes), bytes.size(), kVariant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

std::optional<std::string> DecodeBase64Url(std::string_view text) {
  std::string out(text.size() * 3 / 4 + 3, '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), nullptr,
                        &len, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

std::string DeriveKey(std::string_view secret, std::string_view purpose, std::string_view material) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, Bytes(secret), secret.size() > crypto_generichash_KEYBYTES_MAX
                                                     ? crypto_generichash_KEYBYTES_MAX
                                                     : secret.size(),
                          32);
  // Length-prefixed parts, so no two (purpose, material) pairs hash the same bytes.
  unsigned char len = static_cast<unsigned char>(purpose.size());
  crypto_generichash_update(&state, &len, 1);
  crypto_generichash_update(&state, Bytes(purpose), purpose.size());
  crypto_generichash_update(&state, Bytes(material), material.size());
  std::string out(32, '\0');
  crypto_generichash_final(&state, reinterpret_cast<unsigned char*>(out.data()), out.size());
  return out;
}

std::string SessionKey(std::string_view secret, std::string_view session, std::string_view user,
                       int64_t expires_ms) {
  std::string material;
  material.append(session).append(1, '\n').append(user).append(1, '\n').append(std::to_string(expires_ms));
  return DeriveKey(secret, "session", material);
}

std::string Mac(std::string_view key, std::string_view text) {
  unsigned char tag[crypto_auth_BYTES];
  crypto_auth(tag, Bytes(text), text.size(), Bytes(key));
  return EncodeBase64Url(std::string_view(reinterpret_cast<char*>(tag), sizeof tag));
}

bool VerifyMac(std::string_view key, std::string_view text, std::string_view mac) {
  if (key.size() != crypto_auth_KEYBYTES) return false;
  auto tag = DecodeBase64Url(mac);
  if (!tag || tag->size() != crypto_auth_BYTES) return false;
  return crypto_auth_verify(Bytes(*tag), Bytes(text), text.size(), Bytes(key)) == 0;
}

MacKey::MacKey(std::string_view key) {
  static_assert(sizeof(crypto_auth_hmacsha512256_state) <= 416, "MacKey::state_ too small");
  if (key.size() != crypto_auth_KEYBYTES) return;
  crypto_auth_hmacsha512256_init(reinterpret_cast<crypto_auth_hmacsha512256_state*>(state_), Bytes(key), key.size());
  valid_ = true;
}

bool MacKey::Verify(std::string_view text, std::string_view mac) const {
  if (!valid_) return false;
  // Decoded on the stack: a check allocates nothing.
  unsigned char tag[crypto_auth_BYTES + 3];
  size_t len = 0;
  if (sodium_base642bin(tag, sizeof tag, mac.data(), mac.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      len != crypto_auth_BYTES) {
    return false;
  }
  crypto_auth_hmacsha512256_state state;
  memcpy(&state, state_, sizeof state);
  crypto_auth_hmacsha512256_update(&state, Bytes(text), text.size());
  unsigned char expected[crypto_auth_BYTES];
  crypto_auth_hmacsha512256_final(&state, expected);
  sodium_memzero(&state, sizeof state);
  return crypto_verify_32(tag, expected) == 0;
}

}  // namespace im::auth
