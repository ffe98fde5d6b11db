// libuv's handle "inheritance" spelled once: every handle type starts with uv_handle_t,
// every stream type with uv_stream_t (docs/src/handle.rst), so these casts are safe.
#pragma once

#include <uv.h>

namespace im::net {

template <typename T>
uv_handle_t* AsHandle(T* handle) {
  return reinterpret_cast<uv_handle_t*>(handle);
}

template <typename T>
uv_stream_t* AsStream(T* handle) {
  return reinterpret_cast<uv_stream_t*>(handle);
}

// A libuv handle on the heap that frees itself in its close callback, owned like a value:
// the owner's destructor closes it (if Close has not already), and the memory goes when
// libuv is done with it. So an object holding handles may be destroyed at any time.
template <typename T>
class OwnedHandle {
 public:
  OwnedHandle() : handle_(new T) {}
  ~OwnedHandle() { Close(); }
  OwnedHandle(const OwnedHandle&) = delete;
  OwnedHandle& operator=(const OwnedHandle&) = delete;

  T* get() const { return handle_; }
  T* operator->() const { return handle_; }
  // Idempotent. REQUIRES: the handle was initialised (uv_*_init).
  void Close() {
    if (closed_) return;
    closed_ = true;
    handle_->data = nullptr;  // callbacks check it: nothing reaches the owner any more
    uv_close(AsHandle(handle_), [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
  }
  bool closed() const { return closed_; }

 private:
  T* handle_;
  bool closed_ = false;
};

}  // namespace im::net
