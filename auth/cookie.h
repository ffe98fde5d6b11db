// Address cookies for the presence port (as DNS cookies, RFC 7873): a short MAC of the
// source address and the current epoch under a key every server derives from the shared
// secret. A client that echoes the cookie its address was given has proven it receives
// at that address, so answers to it may be as large as they need; a cookie recorded at
// one address is worthless from another. No I/O; not thread-safe (Valid keeps a memo).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace im::auth {

class CookieJar {
 public:
  // Epochs last kEpochMs; a cookie is good in its epoch and the next, so it lives at
  // least kEpochMs.
  static constexpr int64_t kEpochMs = 5 * 60 * 1000;

  explicit CookieJar(std::string_view shared_secret);
  // 22 characters of base64url for `from` (IP and port) at `now_ms` (wall clock).
  std::string Issue(const sockaddr* from, int64_t now_ms) const;
  // Whether `cookie` is the one `from` was given in this epoch or the last. Checking it
  // is a MAC per datagram, so the cookies that passed are remembered by address (a
  // direct-mapped table, kMemoSlots): the same source showing the same cookie in an
  // epoch where it is still good gets the same answer without the MAC.
  bool Valid(const sockaddr* from, std::string_view cookie, int64_t now_ms) const;

 private:
  static constexpr size_t kChars = 22;
  static constexpr size_t kMemoSlots = 1024;
  struct Passed {
    unsigned char ip[16];
    uint8_t ip_len = 0;  // 0: empty slot
    uint16_t port = 0;
    int64_t epoch = 0;   // the epoch the cookie was made in
    char cookie[kChars];
  };
  // The cookie for `from` in `epoch` into out (kChars characters and a NUL). Every datagram
  // that carries a cookie is checked, so this works on the stack and never allocates.
  void For(const sockaddr* from, int64_t epoch, char out[kChars + 1]) const;
  std::string key_;
  mutable std::vector<Passed> memo_;
};

}  // namespace im::auth
