#include "lb/balancer.h"

#include <systemd/sd-daemon.h>

#include <algorithm>

#include "lb/health_check.h"
#include "lb/lb_log.h"
#include "lb/splice.h"

namespace im::lb {
namespace {

constexpr int kListenBacklog = 511;

template <typename T>
uv_handle_t* AsHandle(T* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

}  // namespace

Balancer::Balancer(uv_loop_t* loop, const LbOptions& options)
    : loop_(loop), options_(options), pool_(options.backends), probes_(options.backends.size(), nullptr) {
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  for (uv_timer_t* t : {&sweep_, &health_, &drain_}) {
    uv_timer_init(loop_, t);
    t->data = this;
  }
  for (uv_signal_t* s : {&sigterm_, &sigint_}) {
    uv_signal_init(loop_, s);
    s->data = this;
  }
}

bool Balancer::Start(std::string* error) {
  sockaddr_storage addr{};
  if (!ResolveHostPort(options_.listen_host + ":" + std::to_string(options_.listen_port), "0.0.0.0",
                       &addr, error)) {
    return false;
  }
  int rc = uv_tcp_bind(&listener_, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), kListenBacklog, OnConnection);
  if (rc != 0) {
    *error = "listen " + options_.listen_host + ":" + std::to_string(options_.listen_port) + ": " + uv_strerror(rc);
    return false;
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  int port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  uint64_t sweep_ms = std::clamp<uint64_t>(options_.idle_timeout_ms / 4, 10, 1000);
  uv_timer_start(&sweep_, OnSweep, sweep_ms, sweep_ms);
  uv_timer_start(&health_, OnHealthCheck, options_.check_interval_ms, options_.check_interval_ms);
  uv_signal_start(&sigterm_, OnSignal, SIGTERM);
  uv_signal_start(&sigint_, OnSignal, SIGINT);

  LbLog("Load Balancer running on port %d...", port);
  LbLog("Forwarding to %zu backend(s)", pool_.size());
  for (size_t i = 0; i < pool_.size(); ++i) LbLog("  Backend %zu: %s", i, pool_.at(static_cast<int>(i)).name.c_str());
  sd_notifyf(0, "READY=1\nSTATUS=listening on port %d, %zu backend(s)", port, pool_.size());
  return true;
}

void Balancer::OnConnection(uv_stream_t* listener, int status) noexcept {
  auto* self = static_cast<Balancer*>(listener->data);
  if (status < 0) {
    // EMFILE/ENFILE: libuv has shed the connection with its reserve fd; no spinning.
    if (self->accept_errors_++ % 1000 == 0) LbLog("accept: %s", uv_strerror(status));
    return;
  }
  if (self->draining_) return;
  if (self->splices_.size() >= static_cast<size_t>(self->options_.max_conns)) {
    // Under sustained overload this happens once per closed pair: say it now and then.
    if (!self->accept_paused_ && self->pauses_++ % 1000 == 0) {
      LbLog("--max-conns %d reached; accepting paused (%llu times so far)", self->options_.max_conns,
            static_cast<unsigned long long>(self->pauses_));
    }
    self->accept_paused_ = true;  // the connection waits in libuv until a pair closes
    return;
  }
  self->AcceptOne();
}

void Balancer::AcceptOne() {
  uint64_t id = next_id_++;
  // Register first: Accept may already start connecting, and a pair must be findable.
  Splice* splice = Splice::Accept(*this, reinterpret_cast<uv_stream_t*>(&listener_), id);
  if (splice != nullptr) {
    splices_.emplace(id, splice);
    ++accepted_;
  }
}

void Balancer::OnSpliceClosed(Splice* splice) {
  splices_.erase(splice->id());
  if (accept_paused_ && !draining_ && !closed_) {
    accept_paused_ = false;
    AcceptOne();
  }
}

void Balancer::ReportDown(int index, int err) {
  if (pool_.MarkDown(index)) {
    LbLog("Backend #%d (%s) is DOWN: %s", index, pool_.at(index).name.c_str(), uv_strerror(err));
    NotifyStatus();
  }
}

void Balancer::ReportUp(int index) {
  if (pool_.MarkUp(index)) {
    LbLog("Backend #%d (%s) is UP again", index, pool_.at(index).name.c_str());
    NotifyStatus();
  }
}

void Balancer::NotifyStatus() {
  sd_notifyf(0, "STATUS=%zu of %zu backend(s) up, %zu open connection(s)", pool_.healthy(), pool_.size(),
             splices_.size());
}

void Balancer::OnHealthCheck(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Balancer*>(timer->data);
  for (size_t i = 0; i < self->pool_.size(); ++i) {
    if (!self->pool_.at(static_cast<int>(i)).up && self->probes_[i] == nullptr) {
      self->probes_[i] = HealthProbe::Start(*self, static_cast<int>(i));
    }
  }
}

void Balancer::OnProbeDone(HealthProbe* probe) {
  auto& slot = probes_[static_cast<size_t>(probe->backend_index())];
  if (slot == probe) slot = nullptr;
}

void Balancer::OnSweep(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Balancer*>(timer->data);
  uint64_t now = uv_now(self->loop_);
  std::vector<Splice*> idle;
  for (auto& [id, splice] : self->splices_) {
    if (splice->IdleSince(now, self->options_.idle_timeout_ms)) idle.push_back(splice);
  }
  for (Splice* s : idle) s->Close();
}

void Balancer::OnSignal(uv_signal_t* signal, int signum) noexcept {
  auto* self = static_cast<Balancer*>(signal->data);
  if (self->draining_) {
    LbLog("second signal %d: closing all connections now", signum);
    self->Close();
    return;
  }
  LbLog("signal %d: no longer accepting; waiting for %zu open connection(s)", signum, self->splices_.size());
  sd_notify(0, "STOPPING=1");
  self->draining_ = true;
  uv_close(AsHandle(&self->listener_), nullptr);
  uv_timer_stop(&self->health_);
  self->drain_deadline_ms_ = uv_now(self->loop_) + self->options_.drain_timeout_ms;
  uv_timer_start(&self->drain_, OnDrain, 0, 10);
}

void Balancer::OnDrain(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Balancer*>(timer->data);
  if (self->splices_.empty() || uv_now(self->loop_) >= self->drain_deadline_ms_) self->Close();
}

void Balancer::Close() {
  if (closed_) return;
  closed_ = true;
  if (draining_) {
    LbLog("exit: %llu connections accepted, %llu rejected with 503, %zu closed at exit",
          static_cast<unsigned long long>(accepted_), static_cast<unsigned long long>(rejected_), splices_.size());
  }
  if (!uv_is_closing(AsHandle(&listener_))) uv_close(AsHandle(&listener_), nullptr);
  for (uv_handle_t* h : {AsHandle(&sweep_), AsHandle(&health_), AsHandle(&drain_), AsHandle(&sigterm_),
                         AsHandle(&sigint_)}) {
    uv_close(h, nullptr);  // members of an object that outlives uv_run
  }
  std::vector<Splice*> open;
  for (auto& [id, s] : splices_) open.push_back(s);
  for (Splice* s : open) s->Close();
  for (HealthProbe* p : probes_) {
    if (p != nullptr) p->Close();
  }
}

}  // namespace im::lb
