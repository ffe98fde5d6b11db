// One health probe: a TCP connect to a down backend, bounded by --connect-timeout. The
// balancer starts at most one per backend per --check-interval and hears the outcome
// once. Deleted once its stream has closed. Loop thread only.
#pragma once

#include <uv.h>

#include "net/tcp_stream.h"
#include "net/timer.h"

namespace im::lb {

class HealthProbe final : private net::Stream::Handler {
 public:
  class Owner {
   public:
    virtual void OnProbeDone(HealthProbe* probe, bool up) = 0;

   protected:
    ~Owner() = default;
  };

  static HealthProbe* Start(uv_loop_t* loop, Owner& owner, int backend_index, const sockaddr* addr,
                            uint64_t timeout_ms);
  HealthProbe(const HealthProbe&) = delete;
  HealthProbe& operator=(const HealthProbe&) = delete;
  // Abandons the probe: the owner hears nothing more.
  void Cancel() noexcept;
  int backend_index() const { return backend_index_; }

 private:
  HealthProbe(uv_loop_t* loop, Owner& owner, int backend_index);
  ~HealthProbe() = default;
  void Finish(bool up);
  void OnStreamConnected(int status) override { Finish(status == 0); }
  void OnStreamRead(std::string_view) override {}
  void OnStreamEof() override {}
  void OnStreamError(int) override { Finish(false); }
  void OnStreamClosed() override { delete this; }

  Owner* owner_;
  int backend_index_;
  net::TcpStream* stream_ = nullptr;
  net::Timer timer_;
};

}  // namespace im::lb
