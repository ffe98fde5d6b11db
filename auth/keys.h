// The cryptography of accounts and presence, on libsodium: random tokens, base64url, the
// keys derived from the servers' shared secret, and MACs over signed texts. Pure
// computation, no I/O; constant-time where a secret is compared.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace im::auth {

// Call once before anything else (sodium_init). False if libsodium cannot start.
bool Init();

// `n` random bytes from the kernel's generator.
std::string RandomBytes(size_t n);
std::string EncodeBase64Url(std::string_view bytes);  // no padding
std::optional<std::string> DecodeBase64Url(std::string_view text);

// A 32-byte key for `purpose` bound to `material`, derived from the 32-byte shared secret
// with keyed BLAKE2b. Different purposes never share keys.
std::string DeriveKey(std::string_view secret, std::string_view purpose, std::string_view material);

// The MAC key of a session: every server sharing the secret derives the same one, so the
// store keeps no key at all (a database dump holds no session keys, only the secret).
std::string SessionKey(std::string_view secret, std::string_view session, std::string_view user,
                       int64_t expires_ms);

// HMAC-SHA512-256 (crypto_auth) of `text` with a 32-byte key, as 43 characters of base64url.
std::string Mac(std::string_view key, std::string_view text);
// Constant-time check of a MAC in that form.
bool VerifyMac(std::string_view key, std::string_view text, std::string_view mac);

// The same HMAC-SHA512-256 with its key taken once: the key's two padded blocks are
// hashed here, so each check hashes only the text (a short datagram's check needs two
// SHA-512 blocks instead of four). What a server keeps per cached session.
class MacKey {
 public:
  MacKey() = default;
  explicit MacKey(std::string_view key);  // 32 bytes; otherwise !valid()
  bool valid() const { return valid_; }
  // Constant-time check of a base64url MAC of `text`, as VerifyMac.
  bool Verify(std::string_view text, std::string_view mac) const;

 private:
  alignas(16) unsigned char state_[416];  // crypto_auth_hmacsha512256_state, after the key
  bool valid_ = false;
};

}  // namespace im::auth
