#include "net/timer.h"

#include "net/handle.h"

namespace im::net {

Timer::Timer(uv_loop_t* loop, void* owner, Callback callback)
    : handle_(new uv_timer_t), owner_(owner), callback_(callback) {
  uv_timer_init(loop, handle_);
  handle_->data = this;
}

Timer::~Timer() {
  handle_->data = nullptr;
  uv_close(AsHandle(handle_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void Timer::Start(uint64_t timeout_ms, uint64_t repeat_ms) { uv_timer_start(handle_, OnTimer, timeout_ms, repeat_ms); }

void Timer::Stop() { uv_timer_stop(handle_); }

bool Timer::active() const { return uv_is_active(AsHandle(handle_)) != 0; }

void Timer::Unref() { uv_unref(AsHandle(handle_)); }

void Timer::OnTimer(uv_timer_t* handle) noexcept {
  auto* self = static_cast<Timer*>(handle->data);
  if (self != nullptr) self->callback_(self->owner_);
}

}  // namespace im::net
