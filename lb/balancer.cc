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
      splices_(static_cast<size_t>(options.max_conns_per_ip)),
      probes_(options.backends.size(), nullptr),
      sweep_(loop, this, [](void* self) { static_cast<Balancer*>(self)->OnSweep(); }),
      health_(loop, this, [](void* self) { static_cast<Balancer*>(self)->OnHealthCheck(); }),
      stop_(loop, *this, options.drain_timeout_ms, 10) {
  uv_check_init(loop, over_cap_check_.get());
  over_cap_check_->data = this;
  uv_idle_init(loop, over_cap_idle_.get());
}

bool Balancer::Start(std::string* error) {
  if (!listener_.Listen(reinterpret_cast<const sockaddr*>(&options_.listen), -1, error)) return false;
  int port = listener_.LocalPort();
  uint64_t shortest = std::min({options_.idle_timeout_ms, options_.first_byte_timeout_ms, options_.half_close_timeout_ms});
  uint64_t sweep_ms = std::clamp<uint64_t>(shortest / 4, 10, 1000);
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
  if (splices_.size() + over_cap_.size() >= static_cast<size_t>(options_.max_conns)) {
    // Full: make room by dropping the client that has waited longest without a word.
    // Only if every client has spoken does the new one wait (in the kernel's backlog).
    Splice* victim = splices_.OldestWaiting();
    if (victim != nullptr && Sheddable(victim)) {
      Shed(victim, "--max-conns");
    } else {
      // Under sustained overload this happens once per closed pair: say it now and then.
      if (!listener_.paused() && pauses_++ % 1000 == 0) {
        IM_LOG(kWarn, "--max-conns %d reached; accepting paused (%llu times so far)", options_.max_conns,
               static_cast<unsigned long long>(pauses_));
      }
      listener_.Pause();  // the connection waits in libuv until a pair closes
      return;
    }
  }
  net::TcpStream* client = net::TcpStream::Accept(listener_.stream(), nullptr);
  if (client == nullptr) return;
  if (splices_.AtCap(reinterpret_cast<const sockaddr*>(&client->peer()))) {
    over_cap_.push_back({client, polls_});  // bounded by --max-conns with the pairs (above)
    if (over_cap_.size() == 1) {
      uv_check_start(over_cap_check_.get(), [](uv_check_t* h) {
        if (auto* self = static_cast<Balancer*>(h->data)) {
          ++self->polls_;
          self->OnOverCap();
        }
      });
      uv_idle_start(over_cap_idle_.get(), [](uv_idle_t*) {});
    }
    return;
  }
  Admit(client);
}

void Balancer::Admit(net::TcpStream* client) {
  Splice* splice = Splice::Create(loop_, client, *this, options_);
  uint64_t id = splices_.Add(splice, reinterpret_cast<const sockaddr*>(&client->peer()), uv_now(loop_));
  if (id == 0) return splice->Close();
  ++accepted_;
  splice->Begin(id);
}

// The connections accepted at their address's cap, once a whole poll phase has run since
// (and with it, often, the end of the same client's previous connection).
void Balancer::OnOverCap() {
  std::vector<OverCap> pending;
  pending.swap(over_cap_);
  for (const OverCap& entry : pending) {
    net::TcpStream* client = entry.client;
    if (polls_ - entry.polls < 2 && !stop_.stopping() && !closed_) {
      over_cap_.push_back(entry);
      continue;
    }
    if (stop_.stopping() || closed_) {
      client->Close();
      continue;
    }
    const auto* peer = reinterpret_cast<const sockaddr*>(&client->peer());
    if (splices_.AtCap(peer)) {
      Splice* victim = splices_.OldestWaitingFrom(peer);
      if (victim != nullptr && Sheddable(victim)) {
        Shed(victim, "--max-conns-per-ip");
      } else {
        if (refused_++ % 1000 == 0) {
          IM_LOG(kWarn, "--max-conns-per-ip %d: %s refused (%llu so far)", options_.max_conns_per_ip,
                 net::FormatAddress(client->peer()).c_str(), static_cast<unsigned long long>(refused_));
        }
        client->Close();
        continue;
      }
    }
    Admit(client);
  }
  if (over_cap_.empty()) {
    uv_check_stop(over_cap_check_.get());
    uv_idle_stop(over_cap_idle_.get());
  }
  if (!stop_.stopping() && !closed_) listener_.Resume();  // room the waiting ones held
}

bool Balancer::Sheddable(const Splice* victim) const {
  return uv_now(loop_) - victim->accepted_ms() >= kShedGraceMs;
}

void Balancer::Shed(Splice* victim, const char* why) {
  if (shed_++ % 1000 == 0) {
    IM_LOG(kWarn, "%s reached: closed the oldest connection that has sent nothing (%llu so far)", why,
           static_cast<unsigned long long>(shed_));
  }
  victim->Close();  // leaves the table at once (OnSpliceClosing)
}

void Balancer::OnSpliceClosing(Splice* splice) {
  splices_.Remove(splice->id());
  if (!stop_.stopping() && !closed_) listener_.Resume();
}

void Balancer::ReportDown(int index, const std::string& why) {
  if (pool_.MarkDown(index)) {
    IM_LOG(kNotice, "Backend #%d (%s) is DOWN: %s", index, pool_.at(index).name.c_str(), why.c_str());
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
    if (probes_[i] == nullptr) {
      probes_[i] = HealthProbe::Start(loop_, *this, static_cast<int>(i), reinterpret_cast<const sockaddr*>(&b.addr),
                                      options_.check_timeout_ms, options_.check_tls.get(), options_.check_name);
    }
  }
}

void Balancer::OnProbeDone(HealthProbe* probe, HealthProbe::Outcome outcome, const std::string& why) {
  int index = probe->backend_index();
  probes_[static_cast<size_t>(index)] = nullptr;
  switch (outcome) {
    case HealthProbe::Outcome::kUp:
      if (pool_.MarkUp(index)) {
        IM_LOG(kNotice, "Backend #%d (%s) is UP again", index, pool_.at(index).name.c_str());
        NotifyStatus();
      }
      break;
    case HealthProbe::Outcome::kDown:
      ReportDown(index, why);
      break;
    case HealthProbe::Outcome::kUnknown:  // our own shortage says nothing about the backend
      IM_LOG(kWarn, "health probe of backend #%d: %s (a local error: state unchanged)", index, why.c_str());
      break;
  }
}

void Balancer::OnSweep() {
  uint64_t now = uv_now(loop_);
  if (now >= options_.first_byte_timeout_ms) {
    std::vector<Splice*> silent = splices_.WaitingSince(now - options_.first_byte_timeout_ms);
    silent_closed_ += silent.size();
    for (Splice* s : silent) s->Close();
  }
  std::vector<Splice*> idle;
  for (Splice* s : splices_.All()) {
    if (s->IdleSince(now, options_.idle_timeout_ms, options_.half_close_timeout_ms)) idle.push_back(s);
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
    auto n = [](uint64_t v) { return static_cast<unsigned long long>(v); };
    IM_LOG(kNotice,
           "exit: %llu connections accepted, %llu rejected with 503, %llu retried, %llu shed, %llu refused "
           "(--max-conns-per-ip), %llu closed silent, %zu closed at exit, accepting paused %llu times",
           n(accepted_), n(rejected_), n(retried_), n(shed_), n(refused_), n(silent_closed_), splices_.size(),
           n(pauses_));
  }
  listener_.Close();
  sweep_.Stop();
  health_.Stop();
  stop_.Close();
  for (const OverCap& entry : over_cap_) entry.client->Close();
  over_cap_.clear();
  over_cap_check_.Close();
  over_cap_idle_.Close();
  for (Splice* s : splices_.All()) s->Close();
  for (HealthProbe*& p : probes_) {
    if (p != nullptr) p->Cancel();
    p = nullptr;
  }
}

}  // namespace im::lb
