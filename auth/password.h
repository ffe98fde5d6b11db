// Password hashes: Argon2id strings (crypto_pwhash_str), which carry their own salt and
// cost, so a hash made at one cost verifies at any. Each call takes tens of
// milliseconds and 64 MiB at the interactive cost: never on the loop (server/password_pool.h
// runs them on libuv's thread pool). No I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace im::auth {

enum class PasswordCost {
  kInteractive,  // libsodium's interactive limits (ops 2, 64 MiB): ~60 ms here
  kModerate,     // ops 2, 19 MiB: ~20 ms (OWASP's Argon2id minimum)
  kMinimum,      // the smallest libsodium allows: for tests and benchmarks only
};

std::optional<PasswordCost> ParsePasswordCost(std::string_view name);  // interactive|moderate|minimum

// The hash string, or empty if hashing failed (out of memory).
std::string HashPassword(std::string_view password, PasswordCost cost);
bool VerifyPassword(const std::string& hash, std::string_view password);

}  // namespace im::auth
