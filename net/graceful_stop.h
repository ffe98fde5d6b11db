// SIGTERM/SIGINT handling shared by the daemons: the first signal asks the owner to stop
// taking work and starts a bounded drain; the owner is told to close everything once it
// reports itself drained, when the budget is spent, or at a second signal. Loop thread
// only.
#pragma once

#include <uv.h>

#include <cstdint>

#include "net/handle.h"
#include "net/timer.h"

namespace im::net {

class GracefulStop {
 public:
  class Owner {
   public:
    // First signal: stop accepting and finish what is in flight.
    virtual void OnStopRequested(int signum) = 0;
    // Polled while draining: true once nothing is in flight any more.
    virtual bool Drained() = 0;
    // Close every handle now (drained, out of time, or a second signal).
    virtual void OnStopNow() = 0;

   protected:
    ~Owner() = default;
  };

  GracefulStop(uv_loop_t* loop, Owner& owner, uint64_t budget_ms, uint64_t poll_ms);
  GracefulStop(const GracefulStop&) = delete;
  GracefulStop& operator=(const GracefulStop&) = delete;

  void Start();  // installs the handlers
  void Close();  // removes them and stops draining; idempotent
  bool stopping() const { return stopping_; }
  uint64_t deadline_ms() const { return deadline_ms_; }  // uv_now when the drain gives up

 private:
  static void OnSignal(uv_signal_t* signal, int signum) noexcept;
  void OnPoll();

  uv_loop_t* loop_;
  Owner& owner_;
  uint64_t budget_ms_;
  uint64_t poll_ms_;
  OwnedHandle<uv_signal_t> sigterm_, sigint_;
  Timer poll_;
  bool stopping_ = false;
  uint64_t deadline_ms_ = 0;
};

}  // namespace im::net
