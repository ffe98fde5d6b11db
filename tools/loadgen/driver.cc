#include "tools/loadgen/driver.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include "net/handle.h"
#include "tools/loadgen/open_loop_schedule.h"
#include "tools/loadgen/pacer.h"
#include "tools/loadgen/slot.h"
#include "tools/loadgen/tcp_call.h"
#include "tools/loadgen/tls_call.h"
#include "tools/loadgen/udp_engine.h"

namespace im::loadgen {
namespace {

// The open-loop backlog holds at most this many due requests (the rest are still
// scheduled by index, never forgotten); seeding uses at most kSeedConnections slots.
constexpr size_t kMaxBacklog = 1000000;
constexpr size_t kSeedConnections = 32;

// Runs the slots: seeding, then the measured phase, closed or open loop, and the results.
// The exchanges themselves are tcp_call's and udp_engine's; their ends come back here.
class Engine : public SlotEvents {
 public:
  Engine(const DriverOptions& options, Scenario& scenario)
      : options_(options), scenario_(scenario), udp_(options.udp) {
    tls_.ctx = options.tls_ctx;
    tls_.name = options.tls_name;
    tls_.resume = options.tls_resume;
    tls_.handshakes = &results_.tls_handshakes;
    tls_.resumed = &results_.tls_resumed;
  }

  Results Run() {
    uv_loop_init(&loop_);
    seed_ = scenario_.SeedRequests();
    slots_.resize(std::max(static_cast<size_t>(options_.concurrency), kSeedConnections));
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      s.events = this;
      s.index = static_cast<int>(i);
      uv_udp_init(&loop_, &s.udp);
      s.udp.data = &s;
      uv_timer_init(&loop_, &s.timer);
      s.timer.data = &s;
    }
    uv_timer_init(&loop_, &tick_);
    tick_.data = this;
    uv_idle_init(&loop_, &ready_idle_);
    ready_idle_.data = this;
    seeding_ = !seed_.empty();
    if (seeding_) {
      // Not measured; at most kSeedConnections at a time.
      for (size_t i = 0; i < kSeedConnections; ++i) StartSeed(slots_[i]);
    } else {
      StartLoad();
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop_) != 0) fprintf(stderr, "im-loadgen: a libuv handle was left open\n");
    if (options_.progress) fprintf(stderr, "\r\x1b[K");
    return results_;
  }

  void OnReply(Slot& s, const std::string& reply) override {
    uv_timer_stop(&s.timer);
    Check(s, reply);
  }

  void OnFailure(Slot& s, const std::string& kind, const std::string& sample) override {
    uv_timer_stop(&s.timer);
    Done(s, false, kind, sample);
  }

 private:
  static uint64_t NowUs() { return uv_hrtime() / 1000; }

  // --- Seeding: plain TCP requests in order, any 2xx accepted, phase by phase: the next
  // phase starts once every seeder of this one is idle.
  void StartSeed(Slot& s) {
    if (next_seed_ >= seed_.size()) {
      if (--seeders_left_ > 0 || !seeding_) return;
      seed_ = scenario_.NextSeedPhase();
      next_seed_ = 0;
      if (seed_.empty()) {
        seeding_ = false;
        return StartLoad();
      }
      seeders_left_ = static_cast<int>(kSeedConnections);
      for (size_t i = 0; i < kSeedConnections; ++i) StartSeed(slots_[i]);
      return;
    }
    s.request = SeedRequest(seed_[next_seed_]);
    s.request.tag = next_seed_++;
    s.busy = true;
    s.intended_us = NowUs();
    ++s.generation;
    SendTcp(s);
  }

  // --- The measured phase.
  void StartLoad() {
    start_us_ = NowUs();
    measure_from_us_ = start_us_ + options_.warmup_ms * 1000;
    end_us_ = measure_from_us_ + options_.duration_ms * 1000;
    active_slots_ = options_.concurrency;
    // 1 ms tick: the end of the run and the progress line.
    uv_timer_start(&tick_, OnTick, 1, 1);
    if (options_.rate <= 0) {
      for (int i = 0; i < active_slots_; ++i) Issue(slots_[static_cast<size_t>(i)], NowUs());
    } else {
      schedule_.emplace(start_us_, options_.rate, kMaxBacklog);
      // Without a timerfd the 1 ms tick paces (OnTick).
      if (pacer_.Open(&loop_, this, [](void* e) { static_cast<Engine*>(e)->Pace(); })) Pace();
    }
  }

  // Queues every request due by now, hands them to free slots, and sleeps until the next
  // one is due. While some wait for a slot, the next completion calls Pace instead (their
  // intended times come from their index, so queueing them late never moves their
  // latency's starting point).
  void Pace() {
    uint64_t now = NowUs();
    if (Stopping(now)) return;
    schedule_->Advance(now);
    DispatchDue();
    if (schedule_->HasBacklog()) {
      pacer_.Disarm();
    } else {
      pacer_.WakeAtUs(schedule_->NextDueUs());
    }
  }

  void DispatchDue() {
    for (int i = 0; i < active_slots_ && schedule_->HasBacklog(); ++i) {
      Slot& s = slots_[static_cast<size_t>(i)];
      if (s.busy) continue;
      Issue(s, schedule_->Pop());
    }
  }

  bool Stopping(uint64_t now) const {
    return now >= end_us_ || (options_.requests > 0 && counted_issued_ >= options_.requests);
  }

  void Issue(Slot& s, uint64_t intended_us) {
    uint64_t now = NowUs();
    if (Stopping(now)) return;
    s.request = scenario_.Next(s.index, s.seq++);
    if (now >= measure_from_us_) counted_issued_ += s.request.weight;
    s.busy = true;
    s.intended_us = intended_us;
    if (s.request.pause_ms > 0) {
      // Pacing (mixed): the heartbeat is due later; latency counts from then.
      s.intended_us = now + s.request.pause_ms * 1000;
      uv_timer_start(&s.timer, OnPauseOver, s.request.pause_ms, 0);
      return;
    }
    Send(s);
  }

  static void OnPauseOver(uv_timer_t* timer) {
    auto* s = static_cast<Slot*>(timer->data);
    static_cast<Engine*>(s->events)->Send(*s);
  }

  void Send(Slot& s) {
    ++s.generation;
    if (s.request.udp) {
      SendUdp(s);
    } else {
      SendTcp(s);
    }
  }

  void SendUdp(Slot& s) {
    std::string error;
    switch (udp_.Send(s, &error)) {
      case UdpEngine::Sent::kAwaitingReply:
        uv_timer_start(&s.timer, OnTimeout, options_.timeout_ms, 0);
        return;
      case UdpEngine::Sent::kNoReply:
        return Defer(s, true, "");
      case UdpEngine::Sent::kFailed:
        return Defer(s, false, error);
    }
  }

  void SendTcp(Slot& s) {
    const auto* to = reinterpret_cast<const sockaddr*>(&options_.tcp);
    int rc = tls_.ctx != nullptr ? StartTlsCall(&loop_, to, tls_, s) : StartTcpCall(&loop_, to, s);
    if (rc != 0) return Defer(s, false, std::string("connect: ") + uv_err_name(rc));
    uv_timer_start(&s.timer, OnTimeout, options_.timeout_ms, 0);
  }

  static void OnTimeout(uv_timer_t* timer) {
    auto* s = static_cast<Slot*>(timer->data);
    if (!s->busy) return;
    if (s->call != nullptr) CloseTcpCall(s->call);
    if (s->tls_call != nullptr) CloseTlsCall(s->tls_call);
    s->awaiting_udp = false;
    ++s->generation;
    static_cast<Engine*>(s->events)->Done(*s, false, "timeout", "");
  }

  // A result known inside a send call (a lone SET sent, a synchronous error) is delivered
  // from the loop, never by calling Done from here: Done issues the next request, and
  // that request could complete at once too, so a direct call would recurse without end.
  void Defer(Slot& s, bool ok, std::string kind) {
    if (finished_) return;
    s.ready_ok = ok;
    s.ready_kind = std::move(kind);
    s.ready_sample.clear();
    ready_.push_back(&s);
    uv_idle_start(&ready_idle_, OnReady);
  }

  static void OnReady(uv_idle_t* idle) {
    auto* e = static_cast<Engine*>(idle->data);
    e->delivering_.swap(e->ready_);
    for (Slot* s : e->delivering_) {
      if (e->finished_) break;
      e->Done(*s, s->ready_ok, s->ready_kind, s->ready_sample);
    }
    e->delivering_.clear();
    if (e->ready_.empty() && !e->finished_) uv_idle_stop(&e->ready_idle_);
  }

  void Check(Slot& s, const std::string& reply) {
    std::string why;
    bool ok = seeding_ ? ReplyMatches(s.request, reply, &why) : scenario_.Check(s.request, reply, &why);
    if (ok && seeding_) scenario_.OnSeedReply(s.request.tag, reply);
    if (ok) return Done(s, true, "", "");
    std::string sample = reply.substr(0, 80);
    for (char& c : sample) c = (c == '\n' || c == '\r') ? '|' : c;
    Done(s, false, "unexpected reply", sample + " (" + why + ")");
  }

  void Done(Slot& s, bool ok, const std::string& kind, const std::string& sample) {
    s.busy = false;
    uint64_t now = NowUs();
    if (seeding_) {
      if (!ok) {
        ++results_.seed_failures;
        if (!results_.samples.count("seeding")) results_.samples["seeding"] = s.request.bytes.substr(0, 60) + ": " + (kind.empty() ? sample : kind);
      }
      return StartSeed(s);
    }
    if (s.intended_us >= measure_from_us_ && !finished_) {
      uint64_t n = s.request.weight;
      if (ok) {
        results_.ok += n;
        results_.latency.Record(now > s.intended_us ? now - s.intended_us : 0);
      } else {
        results_.failed += n;
        results_.errors[kind] += n;
        if (!results_.samples.count(kind)) results_.samples[kind] = sample;
      }
    }
    if (options_.rate > 0) {
      Pace();
    } else {
      Issue(s, now);
    }
    MaybeFinish();
  }

  static void OnTick(uv_timer_t* timer) {
    auto* e = static_cast<Engine*>(timer->data);
    uint64_t now = NowUs();
    if (e->options_.rate > 0 && !e->pacer_.open()) e->Pace();  // no timerfd: the tick paces
    if (e->options_.progress && now - e->last_progress_us_ >= 1000000) {
      e->last_progress_us_ = now;
      double secs = static_cast<double>(now - e->start_us_) / 1e6;
      fprintf(stderr, "\r\x1b[K[loadgen] %.0f s  %llu ok  %llu failed  %.0f req/s", secs,
              static_cast<unsigned long long>(e->results_.ok), static_cast<unsigned long long>(e->results_.failed),
              now > e->measure_from_us_ ? static_cast<double>(e->results_.ok) * 1e6 / static_cast<double>(now - e->measure_from_us_) : 0.0);
    }
    e->MaybeFinish();
  }

  void MaybeFinish() {
    if (finished_) return;
    uint64_t now = NowUs();
    if (!Stopping(now)) return;
    for (auto& s : slots_) {
      if (s.busy && now < end_us_ + options_.timeout_ms * 1000) return;  // let in-flight requests finish (bounded)
    }
    finished_ = true;
    results_.seconds = static_cast<double>(std::min(now, end_us_) - measure_from_us_) / 1e6;
    // Due but never sent: the server was too slow for the offered rate.
    uint64_t unsent = schedule_ ? schedule_->Unsent(now, end_us_) : 0;
    if (unsent > 0) {
      results_.errors["not sent in time (open loop backlog)"] += unsent;
      results_.failed += unsent;
    }
    uv_timer_stop(&tick_);
    uv_close(net::AsHandle(&tick_), nullptr);
    uv_close(net::AsHandle(&ready_idle_), nullptr);
    pacer_.Close();
    ready_.clear();
    for (auto& s : slots_) {
      if (s.call != nullptr) CloseTcpCall(s.call);
      if (s.tls_call != nullptr) CloseTlsCall(s.tls_call);
      ForgetTlsSession(s);
      uv_close(net::AsHandle(&s.udp), nullptr);
      uv_close(net::AsHandle(&s.timer), nullptr);
    }
  }

  DriverOptions options_;
  Scenario& scenario_;
  uv_loop_t loop_;
  uv_timer_t tick_;
  uv_idle_t ready_idle_;               // runs OnReady while ready_ is not empty
  Pacer pacer_;                        // open loop: wakes Pace when the next request is due
  std::optional<OpenLoopSchedule> schedule_;  // open loop only
  UdpEngine udp_;
  TlsTarget tls_;                      // tls_.ctx null: plain TCP
  std::vector<Slot> slots_;
  std::vector<Slot*> ready_, delivering_;  // deferred results; at most one per slot
  std::vector<proto::Request> seed_;
  size_t next_seed_ = 0;
  int seeders_left_ = static_cast<int>(kSeedConnections);
  bool seeding_ = false;
  bool finished_ = false;
  int active_slots_ = 0;
  uint64_t start_us_ = 0, measure_from_us_ = 0, end_us_ = UINT64_MAX;
  uint64_t counted_issued_ = 0, last_progress_us_ = 0;
  Results results_;
};

}  // namespace

Results RunLoad(const DriverOptions& options, Scenario& scenario) {
  Engine engine(options, scenario);
  return engine.Run();
}

}  // namespace im::loadgen
