// A libuv timer owned like a value: the owner holds a Timer member and never counts
// handles. Rules: the uv_timer_t lives on the heap and frees itself in its close
// callback, which may run after ~Timer; once ~Timer has run the callback never fires.
// So an object may be deleted at any time without waiting for its timers to close.
// Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>

#include "net/handle.h"

namespace im::net {

class Timer {
 public:
  // Calls callback(owner) when the timer fires. A captureless lambda works:
  //   Timer timer_{loop, this, [](void* self) { static_cast<Session*>(self)->OnTimeout(); }};
  using Callback = void (*)(void* owner);
  Timer(uv_loop_t* loop, void* owner, Callback callback);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // (Re)arms: fires after timeout_ms, then every repeat_ms if non-zero.
  void Start(uint64_t timeout_ms, uint64_t repeat_ms = 0);
  void Stop();
  bool active() const;
  // An unreferenced timer does not keep uv_run going on its own (uv_unref).
  void Unref();

 private:
  static void OnTimer(uv_timer_t* handle) noexcept;

  OwnedHandle<uv_timer_t> handle_;
  void* owner_;
  Callback callback_;
};

}  // namespace im::net
