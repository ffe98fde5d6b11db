// One client connection spliced to one backend connection, both directions.
//
// Connecting: the client is not read until a backend accepts, so nothing it sends can be
// lost or sent to the wrong backend; the kernel's socket buffer holds it meanwhile. A
// backend that refuses or does not answer within --connect-timeout is marked down and
// the next healthy one is tried; that retry is safe because no byte has been forwarded.
// With no healthy backend left the client gets "503 NO BACKEND AVAILABLE".
//
// Splicing (as h2o's tunnel): each direction forwards what it reads straight away
// (uv_try_write from the balancer's shared read buffer); if the other side cannot take
// it all, the rest is copied into one write request and reading stops until it drains.
// So each direction holds at most one read's worth (64 KiB) and a slow reader throttles
// the fast sender instead of growing memory. EOF on one side becomes a shutdown of the
// other (half-close passes through); the pair closes when both directions have ended or
// either side fails.
//
// Rules: created by Accept, deleted only when the last of its three handles has closed;
// Close() is idempotent. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <vector>

namespace im::lb {

class Balancer;

class Splice {
 public:
  // Accepts the connection pending on `listener` and starts connecting to a backend.
  // Returns nullptr (connection dropped) on failure.
  static Splice* Accept(Balancer& balancer, uv_stream_t* listener, uint64_t id);
  Splice(const Splice&) = delete;
  Splice& operator=(const Splice&) = delete;

  void Close() noexcept;
  uint64_t id() const { return id_; }
  // Only splicing pairs idle out; connecting and rejecting ones have their own timer.
  bool IdleSince(uint64_t now_ms, uint64_t idle_ms) const {
    return state_ == State::kSplicing && now_ms - last_active_ms_ >= idle_ms;
  }

 private:
  enum class State {
    kConnecting,  // a backend connect is in flight, timer_ bounds it
    kRetrying,    // the failed backend handle is closing; then the next one is tried
    kSplicing,    // both connected, bytes flow
    kRejecting,   // writing 503, then lingering until the client closes (timer_ bounds it)
    kClosing,     // handles closing; the last close callback deletes
  };

  // One direction of the splice.
  struct Flow {
    uv_stream_t* src;
    uv_stream_t* dst;
    bool eof = false;            // src has ended (EOF or error)
    bool failed = false;         // ...by an error: close the pair once the write is done
    bool write_pending = false;  // a copy of the rest of a read is being written to dst
    bool shut = false;           // dst's write side is shut down
    uv_shutdown_t shutdown_req;
  };

  Splice(Balancer& balancer, uint64_t id);
  ~Splice() = default;  // only the last close callback deletes
  void ConnectNext();
  void ConnectFailed(int err);
  void StartSplicing();
  void Reject();
  void Forward(Flow& flow, const char* data, size_t len);
  void EndFlow(Flow& flow);
  void CloseHandle(uv_handle_t* handle);
  Flow& FlowFrom(uv_stream_t* src) { return src == up_.src ? up_ : down_; }

  static void OnConnect(uv_connect_t* req, int status) noexcept;
  static void OnConnectTimeout(uv_timer_t* timer) noexcept;
  static void OnLingerTimeout(uv_timer_t* timer) noexcept;
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void OnRejectRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void AfterWrite(uv_write_t* req, int status) noexcept;
  static void AfterRejectWrite(uv_write_t* req, int status) noexcept;
  static void AfterShutdown(uv_shutdown_t* req, int status) noexcept;
  static void OnRetryClose(uv_handle_t* handle) noexcept;
  static void OnClose(uv_handle_t* handle) noexcept;

  Balancer& balancer_;
  uint64_t id_;
  State state_ = State::kConnecting;
  uv_tcp_t client_;            // client_.data == this
  uv_tcp_t backend_;           // re-initialised for each backend tried
  uv_timer_t timer_;           // connect timeout, then the 503 linger
  uv_connect_t connect_req_;
  uv_write_t reject_req_;
  bool backend_open_ = false;  // backend_ is initialised and not yet closed
  int open_handles_ = 0;       // handles not yet through their close callback
  int backend_index_ = -1;     // the backend being tried or spliced to
  std::vector<bool> tried_;    // backends that failed for this client
  uint64_t last_active_ms_ = 0;
  Flow up_;                    // client -> backend
  Flow down_;                  // backend -> client
};

}  // namespace im::lb
