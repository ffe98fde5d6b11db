// Address cookies for the presence port (as DNS cookies, RFC 7873): a short MAC of the
// source address and the current epoch under a key every server derives from the shared
// secret. A client that echoes the cookie its address was given has proven it receives
// at that address, so answers to it may be as large as they need; a cookie recorded at
// one address is worthless from another. No I/O.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace im::auth {

class CookieJar {
 public:
  // Epochs last kEpochMs; a cookie is good in its epoch and the next, so it lives at
  // least kEpochMs.
  static constexpr int64_t kEpochMs = 5 * 60 * 1000;

  explicit CookieJar(std::string_view shared_secret);
  // 22 characters of base64url for `from` (IP and port) at `now_ms` (wall clock).
  std::string Issue(const sockaddr* from, int64_t now_ms) const;
  bool Valid(const sockaddr* from, std::string_view cookie, int64_t now_ms) const;

 private:
  std::string For(const sockaddr* from, int64_t epoch) const;
  std::string key_;
};

}  // namespace im::auth
