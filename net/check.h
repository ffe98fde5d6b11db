// A libuv check handle (runs right after each loop iteration's I/O callbacks) owned like
// a value, with the same rules as net::Timer: the handle lives on the heap and frees
// itself once closed, so the owner may be destroyed at any time. An active check does
// not keep the loop running. Loop thread only.
#pragma once

#include <uv.h>

#include "net/handle.h"

namespace im::net {

class Check {
 public:
  using Callback = void (*)(void* owner);
  Check(uv_loop_t* loop, void* owner, Callback callback);
  ~Check();
  Check(const Check&) = delete;
  Check& operator=(const Check&) = delete;

  void Start();
  void Stop();

 private:
  static void OnCheck(uv_check_t* handle) noexcept;

  OwnedHandle<uv_check_t> handle_;
  void* owner_;
  Callback callback_;
};

}  // namespace im::net
