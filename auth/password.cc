#include "auth/password.h"

#include <sodium.h>

namespace im::auth {

std::optional<PasswordCost> ParsePasswordCost(std::string_view name) {
  if (name == "interactive") return PasswordCost::kInteractive;
  if (name == "moderate") return PasswordCost::kModerate;
  if (name == "minimum") return PasswordCost::kMinimum;
  return std::nullopt;
}

std::string HashPassword(std::string_view password, PasswordCost cost) {
  unsigned long long ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
  size_t mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
  if (cost == PasswordCost::kModerate) {
    ops = 2;
    mem = 19u << 20;
  } else if (cost == PasswordCost::kMinimum) {
    ops = crypto_pwhash_OPSLIMIT_MIN;
    mem = crypto_pwhash_MEMLIMIT_MIN;
  }
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), ops, mem) != 0) return {};
  return out;
}

bool VerifyPassword(const std::string& hash, std::string_view password) {
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

}  // namespace im::auth
