// One accepted TCP connection: read one request line, answer it, close.
//
// Rules (as node's HandleWrap): a Session is created by Accept and deleted only in
// OnClose, after libuv is done with its handle; Close() is idempotent and safe from any
// callback. The Server's registry maps ids to live sessions, so a reply that arrives
// after the client went away finds nothing and is dropped. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "proto/line.h"
#include "proto/request.h"

namespace im::server {

class Server;

class Session {
 public:
  // Accepts the connection pending on `listener`. Returns nullptr (and drops the
  // connection) if that fails.
  static Session* Accept(Server& server, uv_stream_t* listener, uint64_t id);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Writes the reply line, then closes. Called at most once.
  void SendReply(proto::Reply reply);
  void Close() noexcept;

  uint64_t id() const { return id_; }
  uint64_t accepted_ms() const { return accepted_ms_; }
  // True until a complete request line has arrived: only such sessions can be idle.
  bool awaiting_line() const { return state_ == State::kReading; }

 private:
  enum class State {
    kReading,       // waiting for the request line
    kWaitingStore,  // the request is in the group commit
    kReplying,      // the reply is being written
    kClosing,       // uv_close called; OnClose deletes
  };

  Session(Server& server, uint64_t id);
  ~Session() = default;  // only OnClose deletes
  void OnLine(std::string_view line);
  std::string PeerName() const;

  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void AfterWrite(uv_write_t* req, int status) noexcept;
  static void OnClose(uv_handle_t* handle) noexcept;

  Server& server_;
  uv_tcp_t tcp_;                 // tcp_.data == this
  uint64_t id_;                  // key in the server's registry
  uint64_t accepted_ms_;         // uv_now at accept, read by the idle sweep
  State state_ = State::kReading;
  proto::LineBuffer in_{proto::kMaxLineBytes};  // never holds more than one line's bound
  size_t bytes_in_ = 0;          // bytes appended to in_ so far
  std::string request_line_;     // kept for the log line written with the reply
};

}  // namespace im::server
