#include "lb/health_check.h"

#include "lb/balancer.h"

namespace im::lb {

HealthProbe::HealthProbe(Balancer& balancer, int backend_index)
    : balancer_(balancer), backend_index_(backend_index) {
  uv_tcp_init(balancer_.loop(), &tcp_);
  tcp_.data = this;
  uv_timer_init(balancer_.loop(), &timer_);
  timer_.data = this;
}

HealthProbe* HealthProbe::Start(Balancer& balancer, int backend_index) {
  auto* probe = new HealthProbe(balancer, backend_index);
  const auto* addr = reinterpret_cast<const sockaddr*>(&balancer.pool().at(backend_index).addr);
  if (uv_tcp_connect(&probe->connect_req_, &probe->tcp_, addr, OnConnect) != 0) {
    probe->Finish(false);
  } else {
    uv_timer_start(&probe->timer_, OnTimeout, balancer.options().connect_timeout_ms, 0);
  }
  return probe;
}

void HealthProbe::OnConnect(uv_connect_t* req, int status) noexcept {
  auto* self = static_cast<HealthProbe*>(req->handle->data);
  if (status == UV_ECANCELED || self->closing_) return;
  self->Finish(status == 0);
}

void HealthProbe::OnTimeout(uv_timer_t* timer) noexcept {
  auto* self = static_cast<HealthProbe*>(timer->data);
  if (!self->closing_) self->Finish(false);
}

void HealthProbe::Finish(bool up) {
  if (up) balancer_.ReportUp(backend_index_);
  Close();
}

void HealthProbe::Close() noexcept {
  if (closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), OnClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnClose);
}

void HealthProbe::OnClose(uv_handle_t* handle) noexcept {
  auto* self = static_cast<HealthProbe*>(handle->data);
  if (--self->open_handles_ > 0) return;
  self->balancer_.OnProbeDone(self);
  delete self;
}

}  // namespace im::lb
