#include "net/graceful_stop.h"

#include <csignal>
#include <initializer_list>

#include "net/log.h"

namespace im::net {

GracefulStop::GracefulStop(uv_loop_t* loop, Owner& owner, uint64_t budget_ms, uint64_t poll_ms)
    : loop_(loop),
      owner_(owner),
      budget_ms_(budget_ms),
      poll_ms_(poll_ms),
      poll_(loop, this, [](void* self) { static_cast<GracefulStop*>(self)->OnPoll(); }) {
  for (uv_signal_t* s : {sigterm_.get(), sigint_.get()}) {
    uv_signal_init(loop_, s);
    s->data = this;
  }
}

void GracefulStop::Start() {
  uv_signal_start(sigterm_.get(), OnSignal, SIGTERM);
  uv_signal_start(sigint_.get(), OnSignal, SIGINT);
}

void GracefulStop::Close() {
  poll_.Stop();
  sigterm_.Close();
  sigint_.Close();
}

void GracefulStop::OnSignal(uv_signal_t* signal, int signum) noexcept {
  auto* self = static_cast<GracefulStop*>(signal->data);
  if (self == nullptr) return;  // closed
  if (self->stopping_) {
    IM_LOG(kWarn, "second signal %d: stopping now", signum);
    self->owner_.OnStopNow();
    return;
  }
  self->stopping_ = true;
  self->deadline_ms_ = uv_now(self->loop_) + self->budget_ms_;
  self->owner_.OnStopRequested(signum);
  if (!self->sigterm_.closed()) self->poll_.Start(0, self->poll_ms_);
}

void GracefulStop::OnPoll() {
  if (owner_.Drained() || uv_now(loop_) >= deadline_ms_) owner_.OnStopNow();
}

}  // namespace im::net
