#include "tools/loadgen/pacer.h"

#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "net/handle.h"

namespace im::loadgen {

bool Pacer::Open(uv_loop_t* loop, void* owner, Callback callback) {
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // wake-ups on time, not 50 us late
  fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);  // uv_hrtime's clock
  if (fd_ < 0 || uv_poll_init(loop, &poll_, fd_) != 0) {
    fprintf(stderr, "im-loadgen: timerfd: %s; pacing by the 1 ms tick instead\n", strerror(errno));
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return false;
  }
  poll_.data = this;
  owner_ = owner;
  callback_ = callback;
  open_ = true;
  uv_poll_start(&poll_, UV_READABLE, OnReadable);
  return true;
}

void Pacer::WakeAtUs(uint64_t when_us) { Arm(when_us * 1000); }

void Pacer::Disarm() { Arm(0); }

void Pacer::Arm(uint64_t when_ns) {
  if (!open_) return;
  itimerspec when{};  // all zero: disarmed
  when.it_value.tv_sec = static_cast<time_t>(when_ns / 1000000000);
  when.it_value.tv_nsec = static_cast<long>(when_ns % 1000000000);
  timerfd_settime(fd_, TFD_TIMER_ABSTIME, &when, nullptr);
}

void Pacer::Close() {
  if (!open_) return;
  open_ = false;
  uv_close(net::AsHandle(&poll_), [](uv_handle_t* h) { close(static_cast<Pacer*>(h->data)->fd_); });
}

void Pacer::OnReadable(uv_poll_t* poll, int, int) noexcept {
  auto* p = static_cast<Pacer*>(poll->data);
  uint64_t expirations;
  while (read(p->fd_, &expirations, sizeof expirations) > 0) {
  }
  p->callback_(p->owner_);
}

}  // namespace im::loadgen
