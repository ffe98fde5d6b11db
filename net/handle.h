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

}  // namespace im::net
