// The wall clock, for times that several servers compare (presence, sessions, proofs);
// local timeouts use the loop's monotonic clock (uv_now) instead.
#pragma once

#include <time.h>

#include <cstdint>

namespace im::server {

inline int64_t WallClockMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace im::server
