// One account request (REG/ADD/DEL) over its own TCP connection: connect, send the line,
// read the one reply line, done. Bounded by a timeout. Deleted only after its handles
// have closed; the owner hears the outcome exactly once. Loop thread only.
#pragma once

#include <uv.h>

#include <string>

#include "proto/line.h"

namespace im::client {

class AccountRequest {
 public:
  struct Result {
    bool ok = false;     // a reply line arrived
    std::string reply;   // the line without "\n", when ok
    std::string error;   // "cannot reach server HOST:PORT: connection refused", when not
  };
  class Owner {
   public:
    virtual void OnAccountReply(const Result& result) = 0;
   protected:
    ~Owner() = default;
  };

  // Starts the request; the outcome arrives later, never from inside Start.
  static AccountRequest* Start(uv_loop_t* loop, const sockaddr* server, const std::string& server_name,
                               std::string line, Owner& owner, uint64_t timeout_ms);
  AccountRequest(const AccountRequest&) = delete;
  AccountRequest& operator=(const AccountRequest&) = delete;
  // Abandons the request: the owner hears nothing more.
  void Cancel();

 private:
  AccountRequest(uv_loop_t* loop, Owner& owner, std::string server_name, std::string line);
  ~AccountRequest() = default;
  void Finish(Result result);
  static void OnConnect(uv_connect_t* req, int status) noexcept;
  static void AfterWrite(uv_write_t* req, int status) noexcept;
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void OnTimeout(uv_timer_t* timer) noexcept;
  static void OnClose(uv_handle_t* handle) noexcept;

  Owner* owner_;             // null once finished or cancelled
  std::string server_name_;
  std::string line_;         // the request, with "\n"; lives until the write completes
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_connect_t connect_req_;
  uv_write_t write_req_;
  proto::LineBuffer in_{256};
  char read_buf_[512];
  int open_handles_ = 2;
  bool closing_ = false;
};

}  // namespace im::client
