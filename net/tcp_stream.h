// A Stream over a uv_tcp_t: accepted from a listener or connected to an address.
//
// Writes go out at once when the kernel takes them (uv_try_write, no copy); the rest is
// copied into one write request. Reads land in one buffer shared by every stream of the
// process (reads are synchronous on the loop), so an idle connection costs no buffer.
// Loop thread only; see stream.h for the lifetime rules.
#pragma once

#include <uv.h>

#include "net/stream.h"

namespace im::net {

class TcpStream final : public Stream {
 public:
  // Takes the connection waiting on `listener`. nullptr (connection dropped) on failure.
  static TcpStream* Accept(uv_stream_t* listener, Handler* handler);
  // Starts connecting; OnStreamConnected reports the outcome from the loop, always (a
  // connect that fails at once is reported once the handle has closed).
  static TcpStream* Connect(uv_loop_t* loop, const sockaddr* to, Handler* handler);

  int ReadStart() override;
  void ReadStop() override;
  int Write(std::string_view bytes) override;
  size_t write_queue_bytes() const override;
  int Shutdown() override;
  void Close() override;
  const sockaddr_storage& peer() const override { return peer_; }
  int TakePendingError() override;

  // Closes with a reset (RST): the kernel discards what the peer sent and we did not read.
  void CloseReset();
  void SetNoDelay(bool on);
  bool closing() const { return closing_; }

 private:
  explicit TcpStream(uv_loop_t* loop);
  ~TcpStream() override = default;
  void Fail(int status);
  static void OnConnect(uv_connect_t* req, int status) noexcept;
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void AfterWrite(uv_write_t* req, int status) noexcept;
  static void AfterShutdown(uv_shutdown_t* req, int status) noexcept;
  static void OnClose(uv_handle_t* handle) noexcept;

  uv_tcp_t tcp_;               // tcp_.data == this
  uv_connect_t connect_req_;
  uv_shutdown_t shutdown_req_;
  sockaddr_storage peer_{};
  bool closing_ = false;
  bool connecting_ = false;
  bool failed_ = false;        // an error was reported; nothing more is
  int connect_error_ = 0;      // a connect that failed at once, reported from OnClose
};

}  // namespace im::net
