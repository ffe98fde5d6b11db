// One TCP connection to another client for a chat (docs/PROTOCOL.md, "Chat").
//
// A caller connects and sends "HELLO <me>", then waits for OK or BUSY. A callee reads the
// HELLO and answers (its owner decides OK or BUSY). Then each line is "MSG <text>", and
// "BYE" ends the chat. Every wait is bounded by one timer. Deleted only after both its
// handles have closed; the owner hears each event at most once and nothing after Close.
// Loop thread only.
#pragma once

#include <uv.h>

#include <string>

#include "proto/chat.h"
#include "proto/line.h"

namespace im::client {

class PeerConn {
 public:
  class Owner {
   public:
    virtual void OnPeerHello(PeerConn* conn, const std::string& peer) = 0;  // callee: answer it
    virtual void OnPeerAccepted(PeerConn* conn) = 0;                         // caller: OK came
    virtual void OnPeerMessage(PeerConn* conn, const std::string& text) = 0;
    // The connection is over: `reason` says why in words for the user.
    virtual void OnPeerGone(PeerConn* conn, const std::string& reason) = 0;
   protected:
    ~Owner() = default;
  };

  static PeerConn* Call(uv_loop_t* loop, Owner& owner, const sockaddr* addr, const std::string& me,
                        const std::string& peer, uint64_t timeout_ms);
  static PeerConn* Answer(uv_loop_t* loop, Owner& owner, uv_stream_t* listener, uint64_t timeout_ms);
  PeerConn(const PeerConn&) = delete;
  PeerConn& operator=(const PeerConn&) = delete;

  void Accept();             // callee: send OK, chat begins
  void Refuse();             // callee: send BUSY, then close
  void SendMessage(const std::string& text);
  void Leave();              // send BYE, then close; the owner hears nothing more
  void Close();              // close now; the owner hears nothing more
  const std::string& peer() const { return peer_; }

 private:
  enum class State { kConnecting, kAwaitingOk, kAwaitingHello, kAwaitingAnswer, kOpen, kClosing };

  PeerConn(uv_loop_t* loop, Owner& owner, uint64_t timeout_ms);
  ~PeerConn() = default;
  void Write(std::string bytes, bool close_after);
  void OnLine(const std::string& line);
  void Gone(const std::string& reason);
  int StartReading();
  static void OnConnect(uv_connect_t* req, int status) noexcept;
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void OnTimeout(uv_timer_t* timer) noexcept;
  static void OnClose(uv_handle_t* handle) noexcept;

  Owner* owner_;  // null once closing
  State state_;
  uint64_t timeout_ms_;
  std::string peer_;          // known after HELLO (callee) or from the start (caller)
  std::string hello_;         // caller: the HELLO line, kept until written
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_connect_t connect_req_;
  proto::LineBuffer in_{proto::kMaxChatLineBytes};
  char read_buf_[4096];
  int open_handles_ = 2;
};

}  // namespace im::client
