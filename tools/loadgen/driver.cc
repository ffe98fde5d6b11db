#include "tools/loadgen/driver.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <memory>

#include "proto/line.h"

namespace im::loadgen {
namespace {

template <typename T>
uv_handle_t* AsHandle(T* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

class Engine;

// One concurrency slot: a UDP socket, a timer (request timeout or pacing pause), and at
// most one TCP connection at a time.
struct Slot {
  Engine* engine = nullptr;
  int index = 0;
  uint64_t seq = 0;             // requests this slot has started
  bool busy = false;
  bool closing = false;
  Request request;
  uint64_t intended_us = 0;     // when the request should have gone out
  uint64_t generation = 0;      // bumps per request: stale callbacks are ignored
  uv_udp_t udp;
  uv_timer_t timer;
  bool udp_bound = false;
  struct TcpCall* call = nullptr;
  char udp_buf[65536];
};

struct TcpCall {
  Slot* slot;
  uint64_t generation;
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  proto::LineBuffer in{4096};
  char buf[4096];
  bool closed = false;
};

class Engine {
 public:
  Engine(const DriverOptions& options, Scenario& scenario) : options_(options), scenario_(scenario) {}

  Results Run() {
    uv_loop_init(&loop_);
    // Seeding, with at most 32 connections at a time, not measured.
    seed_ = scenario_.SeedLines();
    int slots = options_.concurrency;
    slots_.resize(static_cast<size_t>(std::max(slots, 32)));
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
    seeding_ = !seed_.empty();
    if (seeding_) {
      for (size_t i = 0; i < 32 && i < slots_.size(); ++i) StartSeed(slots_[i]);
    } else {
      StartLoad();
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    if (options_.progress) fprintf(stderr, "\r\x1b[K");
    return results_;
  }

 private:
  static uint64_t NowUs(const uv_loop_t*) { return uv_hrtime() / 1000; }

  // --- Seeding: plain TCP requests in order, any 2xx accepted.
  void StartSeed(Slot& s) {
    if (next_seed_ >= seed_.size()) {
      if (--seeders_left_ <= 0 && seeding_) {
        seeding_ = false;
        StartLoad();
      }
      return;
    }
    s.request = Request{false, seed_[next_seed_++], true, "2"};
    s.busy = true;
    s.intended_us = NowUs(&loop_);
    SendTcp(s);
  }

  // --- The measured phase.
  void StartLoad() {
    start_us_ = NowUs(&loop_);
    measure_from_us_ = start_us_ + options_.warmup_ms * 1000;
    end_us_ = options_.requests > 0 ? UINT64_MAX : measure_from_us_ + options_.duration_ms * 1000;
    active_slots_ = options_.concurrency;
    // 1 ms tick: open-loop scheduling, the end of the run, and the progress line.
    uv_timer_start(&tick_, OnTick, 1, 1);
    if (options_.rate <= 0) {
      for (int i = 0; i < active_slots_; ++i) Issue(slots_[static_cast<size_t>(i)], NowUs(&loop_));
    }
  }

  bool Stopping(uint64_t now) const {
    return now >= end_us_ || (options_.requests > 0 && counted_issued_ >= options_.requests);
  }

  void Issue(Slot& s, uint64_t intended_us) {
    uint64_t now = NowUs(&loop_);
    if (Stopping(now)) return;
    if (now >= measure_from_us_) ++counted_issued_;
    s.request = scenario_.Next(s.index, s.seq++);
    s.busy = true;
    s.intended_us = intended_us;
    if (s.request.pause_ms > 0) {
      // Pacing (mixed): the heartbeat is due later; latency counts from then.
      s.intended_us = now + s.request.pause_ms * 1000;
      ++s.generation;
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

  void SendUdp(Slot& s) {
    if (!s.udp_bound) {
      sockaddr_storage any{};
      uv_ip4_addr("127.0.0.1", 0, reinterpret_cast<sockaddr_in*>(&any));
      uv_udp_bind(&s.udp, reinterpret_cast<sockaddr*>(&any), 0);
      uv_udp_recv_start(
          &s.udp,
          [](uv_handle_t* h, size_t, uv_buf_t* b) {
            auto* slot = static_cast<Slot*>(h->data);
            *b = uv_buf_init(slot->udp_buf, sizeof slot->udp_buf);
          },
          OnUdpRecv);
      s.udp_bound = true;
    }
    uv_buf_t buf = uv_buf_init(s.request.bytes.data(), static_cast<unsigned>(s.request.bytes.size()));
    int rc = uv_udp_try_send(&s.udp, &buf, 1, reinterpret_cast<const sockaddr*>(&options_.udp));
    if (rc < 0) return Done(s, false, std::string("udp send: ") + uv_err_name(rc), "");
    if (!s.request.expect_reply) return Done(s, true, "", "");
    uv_timer_start(&s.timer, OnTimeout, options_.timeout_ms, 0);
  }

  static void OnUdpRecv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned) {
    auto* s = static_cast<Slot*>(udp->data);
    if (nread < 0 || addr == nullptr || !s->busy || !s->request.udp || !s->request.expect_reply) return;
    uv_timer_stop(&s->timer);
    std::string reply(buf->base, static_cast<size_t>(nread));
    s->engine->Check(*s, reply);
  }

  void SendTcp(Slot& s) {
    auto* call = new TcpCall;
    call->slot = &s;
    call->generation = s.generation;
    s.call = call;
    uv_tcp_init(&loop_, &call->tcp);
    call->tcp.data = call;
    int rc = uv_tcp_connect(&call->connect_req, &call->tcp, reinterpret_cast<const sockaddr*>(&options_.tcp),
                            OnConnect);
    uv_timer_start(&s.timer, OnTimeout, options_.timeout_ms, 0);
    if (rc != 0) {
      CloseCall(call);
      Done(s, false, std::string("connect: ") + uv_err_name(rc), "");
    }
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
      return e->Done(s, false, std::string("connect: ") + uv_err_name(status), "");
    }
    uv_buf_t buf = uv_buf_init(s.request.bytes.data(), static_cast<unsigned>(s.request.bytes.size()));
    uv_write(&call->write_req, reinterpret_cast<uv_stream_t*>(&call->tcp), &buf, 1, [](uv_write_t*, int) {});
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&call->tcp),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* c = static_cast<TcpCall*>(h->data);
          *b = uv_buf_init(c->buf, sizeof c->buf);
        },
        OnTcpRead);
  }

  static void OnTcpRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* call = static_cast<TcpCall*>(stream->data);
    if (!Current(call)) return;
    Slot& s = *call->slot;
    Engine* e = s.engine;
    if (nread > 0) {
      call->in.Append(std::string_view(buf->base, static_cast<size_t>(nread)));
      std::string line;
      if (call->in.Next(&line) == proto::LineBuffer::Result::kLine) {
        e->CloseCall(call);
        uv_timer_stop(&s.timer);
        e->Check(s, line);
      }
      return;
    }
    if (nread == 0) return;
    e->CloseCall(call);
    uv_timer_stop(&s.timer);
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
    ++s->generation;
    s->engine->Done(*s, false, "timeout", "");
  }

  void Check(Slot& s, const std::string& reply) {
    std::string why;
    if (ReplyMatches(s.request, reply, &why)) return Done(s, true, "", "");
    std::string sample = reply.substr(0, 80);
    for (char& c : sample) c = (c == '\n' || c == '\r') ? '|' : c;
    Done(s, false, "unexpected reply", sample + " (" + why + ")");
  }

  void Done(Slot& s, bool ok, const std::string& kind, const std::string& sample) {
    s.busy = false;
    uint64_t now = NowUs(&loop_);
    if (seeding_) {
      if (!ok) ++results_.seed_failures;
      return StartSeed(s);
    }
    if (s.intended_us >= measure_from_us_ && !finished_) {
      if (ok) {
        ++results_.ok;
        results_.latency.Record(now > s.intended_us ? now - s.intended_us : 0);
      } else {
        ++results_.failed;
        ++results_.errors[kind];
        if (!sample.empty() && !results_.samples.count(kind)) results_.samples[kind] = sample;
        if (kind.rfind("connect", 0) == 0 && !results_.samples.count(kind)) results_.samples[kind] = "";
      }
    }
    if (options_.rate > 0) {
      DispatchDue();
    } else {
      Issue(s, now);
    }
    MaybeFinish();
  }

  static void OnTick(uv_timer_t* timer) {
    auto* e = static_cast<Engine*>(timer->data);
    uint64_t now = NowUs(&e->loop_);
    if (e->options_.rate > 0 && !e->Stopping(now)) {
      // Every request due by now joins the queue with its intended send time.
      uint64_t due = static_cast<uint64_t>(static_cast<double>(now - e->start_us_) * e->options_.rate / 1e6);
      while (e->scheduled_ < due && e->backlog_.size() < 1000000) {
        e->backlog_.push_back(e->start_us_ + static_cast<uint64_t>(static_cast<double>(e->scheduled_) * 1e6 / e->options_.rate));
        ++e->scheduled_;
      }
      e->DispatchDue();
    }
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
    uint64_t now = NowUs(&loop_);
    if (!Stopping(now)) return;
    for (auto& s : slots_) {
      if (s.busy && now < end_hard_us()) return;  // let in-flight requests finish (bounded)
    }
    finished_ = true;
    uint64_t measured_end = std::min(now, end_us_);
    results_.seconds = static_cast<double>(measured_end - measure_from_us_) / 1e6;
    if (!backlog_.empty()) {
      results_.errors["not sent in time (open loop backlog)"] += backlog_.size();
      results_.failed += backlog_.size();
    }
    uv_timer_stop(&tick_);
    uv_close(AsHandle(&tick_), nullptr);
    for (auto& s : slots_) {
      if (s.call != nullptr) CloseCall(s.call);
      uv_close(AsHandle(&s.udp), nullptr);
      uv_close(AsHandle(&s.timer), nullptr);
    }
  }

  uint64_t end_hard_us() const {
    return (end_us_ == UINT64_MAX ? NowUs(&loop_) : end_us_) + options_.timeout_ms * 1000;
  }

  DriverOptions options_;
  Scenario& scenario_;
  uv_loop_t loop_;
  uv_timer_t tick_;
  std::vector<Slot> slots_;
  std::vector<std::string> seed_;
  size_t next_seed_ = 0;
  int seeders_left_ = 32;
  bool seeding_ = false;
  bool finished_ = false;
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
