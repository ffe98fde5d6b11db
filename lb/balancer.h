// The balancer: owns the listener, the backend pool, every client<->backend pair, the
// health probes, the idle sweep and the signal handlers, on one loop.
//
// Accepting pauses at --max-conns by leaving the connection in libuv (no uv_accept), so
// the kernel backlog holds clients until a pair closes. SIGTERM stops accepting and waits
// up to --drain-timeout for open pairs, then closes the rest. Loop thread only; must
// outlive uv_run.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "lb/backend_pool.h"
#include "lb/options.h"

namespace im::lb {

class HealthProbe;
class Splice;

class Balancer {
 public:
  Balancer(uv_loop_t* loop, const LbOptions& options);
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  // Binds and listens; logs the start-up lines. On failure fills *error; call Close()
  // and run the loop to release the handles.
  bool Start(std::string* error);
  void Close();

  // --- For splices and probes.
  uv_loop_t* loop() const { return loop_; }
  const LbOptions& options() const { return options_; }
  BackendPool& pool() { return pool_; }
  uv_buf_t read_buffer() { return uv_buf_init(read_buf_, sizeof read_buf_); }
  void ReportDown(int backend_index, int err);
  void ReportUp(int backend_index);
  void CountRejected() { ++rejected_; }
  void OnSpliceClosed(Splice* splice);
  void OnProbeDone(HealthProbe* probe);

 private:
  static void OnConnection(uv_stream_t* listener, int status) noexcept;
  static void OnSweep(uv_timer_t* timer) noexcept;
  static void OnHealthCheck(uv_timer_t* timer) noexcept;
  static void OnSignal(uv_signal_t* signal, int signum) noexcept;
  static void OnDrain(uv_timer_t* timer) noexcept;
  void AcceptOne();
  void NotifyStatus();

  uv_loop_t* loop_;
  LbOptions options_;
  BackendPool pool_;
  uv_tcp_t listener_;
  uv_timer_t sweep_;         // closes pairs idle longer than --idle-timeout
  uv_timer_t health_;        // probes down backends every --check-interval
  uv_timer_t drain_;         // during shutdown: waits for open pairs, bounded
  uv_signal_t sigterm_, sigint_;
  bool closed_ = false;
  bool draining_ = false;
  bool accept_paused_ = false;
  uint64_t drain_deadline_ms_ = 0;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Splice*> splices_;  // every live pair, by id
  std::vector<HealthProbe*> probes_;               // per backend: the probe in flight, or null
  uint64_t accepted_ = 0, rejected_ = 0, accept_errors_ = 0, pauses_ = 0;
  char read_buf_[65536];  // scratch for every read: reads are synchronous on the loop
};

}  // namespace im::lb
