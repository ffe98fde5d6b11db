#include "net/timer.h"

#include "net/handle.h"

namespace im::net {

Timer::Timer(uv_loop_t* loop, void* owner, Callback callback) : owner_(owner), callback_(callback) {
  uv_timer_init(loop, handle_.get());
  handle_->data = this;
}

Timer::~Timer() = default;  // handle_ closes itself

void Timer::Start(uint64_t timeout_ms, uint64_t repeat_ms) {
  uv_timer_start(handle_.get(), OnTimer, timeout_ms, repeat_ms);
}

void Timer::Stop() { uv_timer_stop(handle_.get()); }

bool Timer::active() const { return uv_is_active(AsHandle(handle_.get())) != 0; }

void Timer::Unref() { uv_unref(AsHandle(handle_.get())); }

void Timer::OnTimer(uv_timer_t* handle) noexcept {
  auto* self = static_cast<Timer*>(handle->data);
  if (self != nullptr) self->callback_(self->owner_);
}

}  // namespace im::net
