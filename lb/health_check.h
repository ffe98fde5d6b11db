// One health probe: a TCP connect to a down backend, bounded by --connect-timeout. The
// balancer starts at most one per backend per --check-interval. Deleted only in the last
// close callback. Loop thread only.
#pragma once

#include <uv.h>

namespace im::lb {

class Balancer;

class HealthProbe {
 public:
  static HealthProbe* Start(Balancer& balancer, int backend_index);
  HealthProbe(const HealthProbe&) = delete;
  HealthProbe& operator=(const HealthProbe&) = delete;
  void Close() noexcept;
  int backend_index() const { return backend_index_; }

 private:
  HealthProbe(Balancer& balancer, int backend_index);
  ~HealthProbe() = default;
  void Finish(bool up);
  static void OnConnect(uv_connect_t* req, int status) noexcept;
  static void OnTimeout(uv_timer_t* timer) noexcept;
  static void OnClose(uv_handle_t* handle) noexcept;

  Balancer& balancer_;
  int backend_index_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_connect_t connect_req_;
  bool closing_ = false;
  int open_handles_ = 2;
};

}  // namespace im::lb
