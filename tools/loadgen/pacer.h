// The open loop's alarm clock. libuv timers tick in whole milliseconds, which would add
// up to ~2 ms of the load generator's own lateness to every latency; a timerfd armed for
// the next intended send time (polled by the loop) is accurate to tens of microseconds.
// Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>

namespace im::loadgen {

class Pacer {
 public:
  using Callback = void (*)(void* owner);
  Pacer() = default;
  Pacer(const Pacer&) = delete;
  Pacer& operator=(const Pacer&) = delete;

  // Starts polling a timerfd; callback(owner) runs each time it expires. False (with a
  // line on stderr) when there is no timerfd: the caller then paces by a coarser timer.
  bool Open(uv_loop_t* loop, void* owner, Callback callback);
  bool open() const { return open_; }
  // Wakes at this uv_hrtime() instant (in microseconds); one alarm at a time.
  void WakeAtUs(uint64_t when_us);
  void Disarm();
  // Idempotent; the fd closes with the poll handle. REQUIRES: *this outlives uv_run.
  void Close();

 private:
  static void OnReadable(uv_poll_t* poll, int status, int events) noexcept;
  void Arm(uint64_t when_ns);  // 0: disarmed

  uv_poll_t poll_;      // poll_.data == this
  int fd_ = -1;         // the timerfd; closed in poll_'s close callback
  bool open_ = false;
  void* owner_ = nullptr;
  Callback callback_ = nullptr;
};

}  // namespace im::loadgen
