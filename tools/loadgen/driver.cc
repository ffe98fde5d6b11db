#include "tools/loadgen/driver.h"

#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>

#include "proto/line.h"

namespace im::loadgen {
namespace {

// Bounds: the receive buffer holds the largest datagram; the open-loop backlog holds at
// most this many due requests (the rest are still scheduled by index, never forgotten).
constexpr size_t kUdpBufferBytes = 65536;
constexpr size_t kMaxBacklog = 1000000;
constexpr size_t kSeedConnections = 32;

template <typename T>
uv_handle_t* AsHandle(T* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

class Engine;
struct TcpCall;

// One concurrency slot: a UDP socket, a timer (request timeout or pacing pause), and at
// most one TCP connection at a time. Slots live in a vector sized once, before any handle
// is initialised, so their addresses never change.
struct Slot {
  Engine* engine = nullptr;
  int index = 0;
  uint64_t seq = 0;             // requests this slot has started
  bool busy = false;            // a request is paused, in flight or completing
  bool awaiting_udp = false;    // a datagram reply is due (timer running)
  Request request;
  uint64_t intended_us = 0;     // when the request should have gone out
  uint64_t generation = 0;      // bumps per send: stale TCP callbacks are ignored
  uv_udp_t udp;                 // udp.data == this
  uv_timer_t timer;             // timer.data == this
  bool udp_bound = false;
  TcpCall* call = nullptr;
  // A result decided inside a send call, delivered later from the loop (see Defer).
  bool ready_ok = false;
  std::string ready_kind, ready_sample;
};

// One TCP request: owns its handle and the bytes it writes; freed in the close callback.
struct TcpCall {
  Slot* slot;
  uint64_t generation;
  std::string bytes;            // the request line; alive until the close callback
  uv_tcp_t tcp;                 // tcp.data == this
  uv_connect_t connect_req;
  uv_write_t write_req;
  proto::LineBuffer in{4096};
  char buf[4096];
  bool closed = false;
};

bool SameAddress(const sockaddr* a, const sockaddr_storage& b) {
  if (a->sa_family != b.ss_family) return false;
  if (a->sa_family == AF_INET) {
    auto* x = reinterpret_cast<const sockaddr_in*>(a);
    auto* y = reinterpret_cast<const sockaddr_in*>(&b);
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  auto* x = reinterpret_cast<const sockaddr_in6*>(a);
  auto* y = reinterpret_cast<const sockaddr_in6*>(&b);
  return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

class Engine {
 public:
  Engine(const DriverOptions& options, Scenario& scenario)
      : options_(options), scenario_(scenario), udp_buf_(new char[kUdpBufferBytes]) {}

  Results Run() {
    uv_loop_init(&loop_);
    seed_ = scenario_.SeedRequests();
    slots_.resize(std::max(static_cast<size_t>(options_.concurrency), kSeedConnections));
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      s.engine = this;
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

 private:
  static uint64_t NowUs() { return uv_hrtime() / 1000; }

  // --- Seeding: plain TCP requests in order, any 2xx accepted.
  void StartSeed(Slot& s) {
    if (next_seed_ >= seed_.size()) {
      if (--seeders_left_ <= 0 && seeding_) {
        seeding_ = false;
        StartLoad();
      }
      return;
    }
    s.request = SeedRequest(seed_[next_seed_++]);
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
      StartPacer();
    }
  }

  // --- Open loop. libuv timers tick in whole milliseconds, which would add up to ~2 ms
  // of the load generator's own lateness to every latency; a timerfd armed for the next
  // intended send time (polled by the loop) is accurate to tens of microseconds.
  void StartPacer() {
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // wake-ups on time, not 50 us late
    pacer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);  // uv_hrtime's clock
    if (pacer_fd_ < 0 || uv_poll_init(&loop_, &pacer_, pacer_fd_) != 0) {
      fprintf(stderr, "im-loadgen: timerfd: %s; pacing by the 1 ms tick instead\n", strerror(errno));
      if (pacer_fd_ >= 0) close(pacer_fd_);
      pacer_fd_ = -1;
      return;
    }
    pacer_.data = this;
    pacer_open_ = true;
    uv_poll_start(&pacer_, UV_READABLE, OnPace);
    Pace();
  }

  static void OnPace(uv_poll_t* poll, int, int) {
    auto* e = static_cast<Engine*>(poll->data);
    uint64_t expirations;
    while (read(e->pacer_fd_, &expirations, sizeof expirations) > 0) {
    }
    e->Pace();
  }

  // Queues every request due by now with its intended send time, hands them to free
  // slots, and sleeps until the next one is due. While some wait for a slot, the next
  // completion calls Pace instead (their intended times come from their index, so
  // queueing them late never moves their latency's starting point).
  void Pace() {
    uint64_t now = NowUs();
    if (Stopping(now)) return;
    uint64_t due = static_cast<uint64_t>(static_cast<double>(now - start_us_) * options_.rate / 1e6) + 1;
    if (scheduled_ < due && backlog_.size() >= kMaxBacklog) backlog_capped_ = true;
    while (scheduled_ < due && backlog_.size() < kMaxBacklog) backlog_.push_back(IntendedUs(scheduled_++));
    DispatchDue();
    if (!pacer_open_) return;
    itimerspec when{};
    if (backlog_.empty()) {
      uint64_t next_ns = IntendedUs(scheduled_) * 1000;
      when.it_value.tv_sec = static_cast<time_t>(next_ns / 1000000000);
      when.it_value.tv_nsec = static_cast<long>(next_ns % 1000000000);
    }
    timerfd_settime(pacer_fd_, TFD_TIMER_ABSTIME, &when, nullptr);  // all zero: disarmed
  }

  uint64_t IntendedUs(uint64_t index) const {
    return start_us_ + static_cast<uint64_t>(static_cast<double>(index) * 1e6 / options_.rate);
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
    s->engine->Send(*s);
  }

  void Send(Slot& s) {
    ++s.generation;
    if (s.request.udp) {
      SendUdp(s);
    } else {
      SendTcp(s);
    }
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

  void SendUdp(Slot& s) {
    if (!s.udp_bound) {
      // Bind to the loopback address of the target's family: the server records the
      // datagram's source IP, and udp-set checks it comes back.
      sockaddr_storage local{};
      int rc = options_.udp.ss_family == AF_INET6
                   ? uv_ip6_addr("::1", 0, reinterpret_cast<sockaddr_in6*>(&local))
                   : uv_ip4_addr("127.0.0.1", 0, reinterpret_cast<sockaddr_in*>(&local));
      if (rc == 0) rc = uv_udp_bind(&s.udp, reinterpret_cast<const sockaddr*>(&local), 0);
      if (rc == 0) rc = uv_udp_recv_start(&s.udp, OnUdpAlloc, OnUdpRecv);
      if (rc != 0) return Defer(s, false, std::string("udp bind: ") + uv_err_name(rc));
      s.udp_bound = true;
    }
    const auto* to = reinterpret_cast<const sockaddr*>(&options_.udp);
    for (std::string& d : s.request.pre_datagrams) {
      uv_buf_t buf = uv_buf_init(d.data(), static_cast<unsigned>(d.size()));
      int rc = uv_udp_try_send(&s.udp, &buf, 1, to);
      if (rc < 0) return Defer(s, false, std::string("udp send: ") + uv_err_name(rc));
    }
    uv_buf_t buf = uv_buf_init(s.request.bytes.data(), static_cast<unsigned>(s.request.bytes.size()));
    int rc = uv_udp_try_send(&s.udp, &buf, 1, to);
    if (rc < 0) return Defer(s, false, std::string("udp send: ") + uv_err_name(rc));
    if (!s.request.expect_reply) return Defer(s, true, "");
    s.awaiting_udp = true;
    uv_timer_start(&s.timer, OnTimeout, options_.timeout_ms, 0);
  }

  static void OnUdpAlloc(uv_handle_t* h, size_t, uv_buf_t* b) {
    auto* s = static_cast<Slot*>(h->data);
    *b = uv_buf_init(s->engine->udp_buf_.get(), kUdpBufferBytes);  // receive is synchronous: one buffer
  }

  static void OnUdpRecv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned flags) {
    auto* s = static_cast<Slot*>(udp->data);
    Engine* e = s->engine;
    if (nread < 0 || addr == nullptr || (flags & UV_UDP_PARTIAL)) return;
    // A reply after its request timed out, or from elsewhere, is not an answer.
    if (!s->awaiting_udp || !SameAddress(addr, e->options_.udp)) return;
    s->awaiting_udp = false;
    uv_timer_stop(&s->timer);
    e->Check(*s, std::string(buf->base, static_cast<size_t>(nread)));
  }

  void SendTcp(Slot& s) {
    auto* call = new TcpCall;
    call->slot = &s;
    call->generation = s.generation;
    call->bytes = s.request.bytes;
    uv_tcp_init(&loop_, &call->tcp);
    call->tcp.data = call;
    s.call = call;
    int rc = uv_tcp_connect(&call->connect_req, &call->tcp, reinterpret_cast<const sockaddr*>(&options_.tcp),
                            OnConnect);
    if (rc != 0) {
      CloseCall(call);
      return Defer(s, false, std::string("connect: ") + uv_err_name(rc));
    }
    uv_timer_start(&s.timer, OnTimeout, options_.timeout_ms, 0);
  }

  static bool Current(TcpCall* call) {
    return !call->closed && call->slot->call == call && call->slot->generation == call->generation;
  }

  static void OnConnect(uv_connect_t* req, int status) {
    auto* call = static_cast<TcpCall*>(req->handle->data);
    if (status == UV_ECANCELED || !Current(call)) return;
    Slot& s = *call->slot;
    Engine* e = s.engine;
    if (status != 0) {
      e->CloseCall(call);
      uv_timer_stop(&s.timer);
      return e->Done(s, false, std::string("connect: ") + uv_err_name(status), "");
    }
    // A failed write shows up as a read error or EOF, so the write callback has no work.
    uv_buf_t buf = uv_buf_init(call->bytes.data(), static_cast<unsigned>(call->bytes.size()));
    auto* stream = reinterpret_cast<uv_stream_t*>(&call->tcp);
    int rc = uv_write(&call->write_req, stream, &buf, 1, [](uv_write_t*, int) {});
    if (rc == 0) rc = uv_read_start(stream, OnTcpAlloc, OnTcpRead);
    if (rc != 0) {
      e->CloseCall(call);
      uv_timer_stop(&s.timer);
      e->Done(s, false, std::string("write: ") + uv_err_name(rc), "");
    }
  }

  static void OnTcpAlloc(uv_handle_t* h, size_t, uv_buf_t* b) {
    auto* c = static_cast<TcpCall*>(h->data);
    *b = uv_buf_init(c->buf, sizeof c->buf);
  }

  static void OnTcpRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* call = static_cast<TcpCall*>(stream->data);
    if (!Current(call)) return;
    Slot& s = *call->slot;
    Engine* e = s.engine;
    if (nread > 0) {
      call->in.Append(std::string_view(buf->base, static_cast<size_t>(nread)));
      std::string line;
      auto result = call->in.Next(&line);
      if (result == proto::LineBuffer::Result::kLine) {
        e->CloseCall(call);
        uv_timer_stop(&s.timer);
        e->Check(s, line);
      } else if (result != proto::LineBuffer::Result::kNeedMore) {
        e->CloseCall(call);
        uv_timer_stop(&s.timer);
        e->Done(s, false, "unexpected reply", "over-long or malformed line");
      }
      return;
    }
    if (nread == 0) return;
    e->CloseCall(call);
    uv_timer_stop(&s.timer);
    if (nread == UV_EOF && !call->in.Pending().empty()) return e->Check(s, std::string(call->in.Pending()));
    e->Done(s, false, nread == UV_EOF ? "closed without a reply" : std::string("read: ") + uv_err_name(static_cast<int>(nread)), "");
  }

  void CloseCall(TcpCall* call) {
    if (call->closed) return;
    call->closed = true;
    if (call->slot->call == call) call->slot->call = nullptr;
    uv_close(AsHandle(&call->tcp), [](uv_handle_t* h) { delete static_cast<TcpCall*>(h->data); });
  }

  static void OnTimeout(uv_timer_t* timer) {
    auto* s = static_cast<Slot*>(timer->data);
    if (!s->busy) return;
    if (s->call != nullptr) s->engine->CloseCall(s->call);
    s->awaiting_udp = false;
    ++s->generation;
    s->engine->Done(*s, false, "timeout", "");
  }

  void Check(Slot& s, const std::string& reply) {
    std::string why;
    bool ok = seeding_ ? ReplyMatches(s.request, reply, &why) : scenario_.Check(s.request, reply, &why);
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
    if (e->options_.rate > 0 && !e->pacer_open_) e->Pace();  // no timerfd: the tick paces
    if (e->options_.progress && now - e->last_progress_us_ >= 1000000) {
      e->last_progress_us_ = now;
      double secs = static_cast<double>(now - e->start_us_) / 1e6;
      fprintf(stderr, "\r\x1b[K[loadgen] %.0f s  %llu ok  %llu failed  %.0f req/s", secs,
              static_cast<unsigned long long>(e->results_.ok), static_cast<unsigned long long>(e->results_.failed),
              now > e->measure_from_us_ ? static_cast<double>(e->results_.ok) * 1e6 / static_cast<double>(now - e->measure_from_us_) : 0.0);
    }
    e->MaybeFinish();
  }

  void DispatchDue() {
    for (int i = 0; i < active_slots_ && !backlog_.empty(); ++i) {
      Slot& s = slots_[static_cast<size_t>(i)];
      if (s.busy) continue;
      uint64_t intended = backlog_.front();
      backlog_.pop_front();
      Issue(s, intended);
    }
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
    uint64_t unsent = backlog_.size() + (backlog_capped_ ? Unscheduled(now) : 0);
    if (unsent > 0) {
      results_.errors["not sent in time (open loop backlog)"] += unsent;
      results_.failed += unsent;
    }
    uv_timer_stop(&tick_);
    uv_close(AsHandle(&tick_), nullptr);
    uv_close(AsHandle(&ready_idle_), nullptr);
    if (pacer_open_) {
      pacer_open_ = false;
      uv_close(AsHandle(&pacer_), [](uv_handle_t* h) { close(static_cast<Engine*>(h->data)->pacer_fd_); });
    }
    ready_.clear();
    for (auto& s : slots_) {
      if (s.call != nullptr) CloseCall(s.call);
      uv_close(AsHandle(&s.udp), nullptr);
      uv_close(AsHandle(&s.timer), nullptr);
    }
  }

  // Requests due before the end that the capped backlog never took in.
  uint64_t Unscheduled(uint64_t now) const {
    uint64_t until = std::min(now, end_us_);
    uint64_t due = static_cast<uint64_t>(static_cast<double>(until - start_us_) * options_.rate / 1e6);
    return due > scheduled_ ? due - scheduled_ : 0;
  }

  DriverOptions options_;
  Scenario& scenario_;
  uv_loop_t loop_;
  uv_timer_t tick_;
  uv_idle_t ready_idle_;               // runs OnReady while ready_ is not empty
  uv_poll_t pacer_;                    // open loop: readable when the timerfd expires
  int pacer_fd_ = -1;                  // the timerfd; closed in pacer_'s close callback
  bool pacer_open_ = false;
  std::vector<Slot> slots_;
  std::vector<Slot*> ready_, delivering_;  // deferred results; at most one per slot
  std::unique_ptr<char[]> udp_buf_;    // shared receive buffer
  std::vector<proto::Request> seed_;
  size_t next_seed_ = 0;
  int seeders_left_ = static_cast<int>(kSeedConnections);
  bool seeding_ = false;
  bool finished_ = false;
  bool backlog_capped_ = false;  // due requests were left unscheduled (counted at the end)
  int active_slots_ = 0;
  uint64_t start_us_ = 0, measure_from_us_ = 0, end_us_ = UINT64_MAX;
  uint64_t counted_issued_ = 0, scheduled_ = 0, last_progress_us_ = 0;
  std::deque<uint64_t> backlog_;  // intended send times of due requests waiting for a slot
  Results results_;
};

}  // namespace

Results RunLoad(const DriverOptions& options, Scenario& scenario) {
  Engine engine(options, scenario);
  return engine.Run();
}

}  // namespace im::loadgen
