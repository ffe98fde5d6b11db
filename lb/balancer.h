// The balancer: owns the listener, the backend pool, every client<->backend pair, the
// health probes, the idle sweep and the signal handlers, on one loop.
//
// At --max-conns the oldest client that has sent nothing yet is shed to make room; if
// every client has spoken, accepting pauses by leaving the connection waiting in libuv
// (see net/listener.h). A connection whose address holds --max-conns-per-ip waits
// (accepted, unread) until one more poll phase has run: a client that closes and
// reconnects at once has sent its FIN first, so by then its old slot is free. Then, if the
// address is still at its cap, its oldest client that has sent nothing (for kShedGraceMs
// at least: younger ones may simply not have been read yet) is shed, or else the new
// connection is closed. Only that address is ever touched. A client
// that sends nothing for --first-byte-timeout is closed by the sweep. Every backend is
// probed with PING every --check-interval. SIGTERM stops accepting and waits up to
// --drain-timeout for open pairs, then closes the rest. Loop thread only; must outlive
// uv_run.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lb/backend_pool.h"
#include "lb/health_check.h"
#include "lb/options.h"
#include "lb/splice.h"
#include "net/connection_table.h"
#include "net/graceful_stop.h"
#include "net/handle.h"
#include "net/listener.h"
#include "net/timer.h"

namespace im::lb {

class Balancer final : private net::Listener::Owner,
                       private Splice::Owner,
                       private HealthProbe::Owner,
                       private net::GracefulStop::Owner {
 public:
  Balancer(uv_loop_t* loop, const LbOptions& options);
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  // Binds and listens; logs the start-up lines. On failure fills *error; call Close()
  // and run the loop to release the handles.
  bool Start(std::string* error);
  void Close();

 private:
  // A waiting client younger than this may have sent its request already, unread.
  static constexpr uint64_t kShedGraceMs = 100;

  // net::Listener::Owner
  void OnIncoming() override;
  // Splice::Owner
  BackendPool& pool() override { return pool_; }
  void ReportDown(int backend_index, const std::string& why) override;
  void OnFirstBytes(Splice* splice) override { splices_.MarkActive(splice->id()); }
  // A client that has ended holds no --max-conns-per-ip slot while its reply finishes: a
  // client that closes and reconnects at once must find its slot free.
  void OnClientEnded(Splice* splice) override { splices_.Uncount(splice->id()); }
  void OnRejected(Splice*) override { ++rejected_; }
  void OnRetried(Splice*) override { ++retried_; }
  void OnSpliceClosing(Splice* splice) override;
  // HealthProbe::Owner
  void OnProbeDone(HealthProbe* probe, HealthProbe::Outcome outcome, const std::string& why) override;
  // net::GracefulStop::Owner
  void OnStopRequested(int signum) override;
  bool Drained() override { return splices_.empty() && over_cap_.empty(); }
  void OnStopNow() override { Close(); }

  void OnSweep();
  void OnHealthCheck();
  void NotifyStatus();
  void Shed(Splice* victim, const char* why);
  bool Sheddable(const Splice* victim) const;
  void Admit(net::TcpStream* client);
  void OnOverCap();

  uv_loop_t* loop_;
  LbOptions options_;
  BackendPool pool_;
  net::Listener listener_;
  net::ConnectionTable<Splice> splices_;
  struct OverCap {
    net::TcpStream* client;
    uint64_t polls;  // polls_ when it was accepted
  };
  std::vector<OverCap> over_cap_;                 // accepted at their address's cap
  net::OwnedHandle<uv_check_t> over_cap_check_;  // after each poll phase, while any wait
  net::OwnedHandle<uv_idle_t> over_cap_idle_;    // meanwhile the poll does not block
  uint64_t polls_ = 0;                           // poll phases seen by over_cap_check_
  std::vector<HealthProbe*> probes_;  // per backend: the probe in flight, or null
  net::Timer sweep_;                  // closes idle, half-closed and silent pairs
  net::Timer health_;                 // probes every backend every --check-interval
  net::GracefulStop stop_;
  bool closed_ = false;
  uint64_t accepted_ = 0, rejected_ = 0, pauses_ = 0, retried_ = 0;
  uint64_t shed_ = 0, refused_ = 0, silent_closed_ = 0;
};

}  // namespace im::lb
