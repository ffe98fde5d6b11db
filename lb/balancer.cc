#include "lb/balancer.h"

#include <systemd/sd-daemon.h>

#include <algorithm>

#include "net/address.h"
#include "net/log.h"
#include "net/tcp_stream.h"

namespace im::lb {

Balancer::Balancer(uv_loop_t* loop, const LbOptions& options)
    : loop_(loop),
      options_(options),
      pool_(options.backends),
      listener_(loop, *this),
      probes_(options.backends.size(), nullptr),
      sweep_(loop, this, [](void* self) { static_cast<Balancer*>(self)->OnSweep(); }),
      health_(loop, this, [](void* self) { static_cast<Balancer*>(self)->OnHealthCheck(); }),
      stop_(loop, *this, options.drain_timeout_ms, 10) {}

bool Balancer::Start(std::string* error) {
  if (!listener_.Listen(reinterpret_cast<const sockaddr*>(&options_.listen), -1, error)) return false;
  int port = listener_.LocalPort();
  uint64_t sweep_ms = std::clamp<uint64_t>(options_.idle_timeout_ms / 4, 10, 1000);
  sweep_.Start(sweep_ms, sweep_ms);
  health_.Start(options_.check_interval_ms, options_.check_interval_ms);
  stop_.Start();
  IM_LOG(kNotice, "Load Balancer running on port %d...", port);
  IM_LOG(kNotice, "Forwarding to %zu backend(s)", pool_.size());
  for (size_t i = 0; i < pool_.size(); ++i) {
    IM_LOG(kNotice, "  Backend %zu: %s", i, pool_.at(static_cast<int>(i)).name.c_str());
  }
  sd_notifyf(0, "READY=1\nSTATUS=listening on port %d, %zu backend(s)", port, pool_.size());
  return true;
}

void Balancer::OnIncoming() {
  if (stop_.stopping() || closed_) return;
  if (splices_.size() >= static_cast<size_t>(options_.max_conns)) {
    // Under sustained overload this happens once per closed pair: say it now and then.
    if (!listener_.paused() && pauses_++ % 1000 == 0) {
      IM_LOG(kWarn, "--max-conns %d reached; accepting paused (%llu times so far)", options_.max_conns,
             static_cast<unsigned long long>(pauses_));
    }
    listener_.Pause();  // the connection waits in libuv until a pair closes
    return;
  }
  net::TcpStream* client = net::TcpStream::Accept(listener_.stream(), nullptr);
  if (client == nullptr) return;
  Splice* splice = Splice::Create(loop_, client, *this, options_);
  uint64_t id = splices_.Add(splice, reinterpret_cast<const sockaddr*>(&client->peer()), uv_now(loop_));
  if (id == 0) return splice->Close();
  ++accepted_;
  splice->Begin(id);
}

void Balancer::OnSpliceClosing(Splice* splice) {
  splices_.Remove(splice->id());
  if (!stop_.stopping() && !closed_) listener_.Resume();
}

void Balancer::ReportDown(int index, int err) {
  if (pool_.MarkDown(index)) {
    IM_LOG(kNotice, "Backend #%d (%s) is DOWN: %s", index, pool_.at(index).name.c_str(), uv_strerror(err));
    NotifyStatus();
  }
}

void Balancer::NotifyStatus() {
  sd_notifyf(0, "STATUS=%zu of %zu backend(s) up, %zu open connection(s)", pool_.healthy(), pool_.size(),
             splices_.size());
}

void Balancer::OnHealthCheck() {
  for (size_t i = 0; i < pool_.size(); ++i) {
    const Backend& b = pool_.at(static_cast<int>(i));
    if (!b.up && probes_[i] == nullptr) {
      probes_[i] = HealthProbe::Start(loop_, *this, static_cast<int>(i), reinterpret_cast<const sockaddr*>(&b.addr),
                                      options_.connect_timeout_ms);
    }
  }
}

void Balancer::OnProbeDone(HealthProbe* probe, bool up) {
  int index = probe->backend_index();
  probes_[static_cast<size_t>(index)] = nullptr;
  if (up && pool_.MarkUp(index)) {
    IM_LOG(kNotice, "Backend #%d (%s) is UP again", index, pool_.at(index).name.c_str());
    NotifyStatus();
  }
}

void Balancer::OnSweep() {
  uint64_t now = uv_now(loop_);
  std::vector<Splice*> idle;
  for (Splice* s : splices_.All()) {
    if (s->IdleSince(now, options_.idle_timeout_ms)) idle.push_back(s);
  }
  for (Splice* s : idle) s->Close();
}

void Balancer::OnStopRequested(int signum) {
  IM_LOG(kNotice, "signal %d: no longer accepting; waiting for %zu open connection(s)", signum, splices_.size());
  sd_notify(0, "STOPPING=1");
  listener_.Close();
  health_.Stop();
}

void Balancer::Close() {
  if (closed_) return;
  closed_ = true;
  if (stop_.stopping()) {
    IM_LOG(kNotice, "exit: %llu connections accepted, %llu rejected with 503, %zu closed at exit",
           static_cast<unsigned long long>(accepted_), static_cast<unsigned long long>(rejected_), splices_.size());
  }
  listener_.Close();
  sweep_.Stop();
  health_.Stop();
  stop_.Close();
  for (Splice* s : splices_.All()) s->Close();
  for (HealthProbe*& p : probes_) {
    if (p != nullptr) p->Cancel();
    p = nullptr;
  }
}

}  // namespace im::lb
