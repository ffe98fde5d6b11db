// The server: owns the TCP listener, the UDP presence socket, the group commit, the
// registry of live sessions, the idle sweep and the signal handlers, all on one loop.
//
// Accepting pauses at --max-conns by not calling uv_accept: libuv then stops watching
// the listener and the kernel's backlog holds new clients until a session closes, so a
// full server neither spins nor drops anyone. Loop thread only; must outlive uv_run.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "server/group_commit.h"
#include "server/options.h"
#include "server/presence_udp.h"
#include "server/store.h"

namespace im::server {

class Session;

class Server : private GroupCommit::Sink {
 public:
  Server(uv_loop_t* loop, const ServerOptions& options, Store& store);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts everything; logs "listening tcp HOST:PORT" and "listening udp ...".
  // On failure fills *error; call Close() and run the loop to release the handles.
  bool Start(std::string* error);
  // Stops at once: closes every handle and session. uv_run returns afterwards.
  void Close();

  // --- For sessions.
  uv_loop_t* loop() const { return loop_; }
  uv_buf_t read_buffer() { return uv_buf_init(read_buf_, sizeof read_buf_); }
  void SubmitRequest(uint64_t session_id, proto::Request request);
  void OnSessionClosed(Session* session);

 private:
  static void OnConnection(uv_stream_t* listener, int status) noexcept;
  static void OnSweep(uv_timer_t* timer) noexcept;
  static void OnSignal(uv_signal_t* signal, int signum) noexcept;
  static void OnDrain(uv_timer_t* timer) noexcept;
  void OnCommitted(uint64_t session_id, proto::Reply reply) override;
  void AcceptOne();
  void BeginShutdown();
  void LogStats(const char* when);

  uv_loop_t* loop_;
  ServerOptions options_;
  Store& store_;
  GroupCommit commit_;
  PresenceUdp udp_;
  uv_tcp_t listener_;
  uv_timer_t sweep_;     // closes sessions that sent no line within --idle-timeout
  uv_timer_t drain_;     // during shutdown: waits for in-flight requests, bounded
  uv_signal_t sigterm_, sigint_;
  bool closed_ = false;
  bool shutting_down_ = false;
  bool accept_paused_ = false;     // a connection waits in libuv for a free slot
  uint64_t shutdown_deadline_ms_ = 0;
  uint64_t last_stats_ms_ = 0;
  uint64_t next_session_id_ = 1;
  std::unordered_map<uint64_t, Session*> sessions_;  // every live session, by id
  uint64_t accepted_ = 0, idle_closed_ = 0, accept_errors_ = 0, paused_ = 0;
  char read_buf_[4096];  // scratch for session reads: reads are synchronous on the loop
};

}  // namespace im::server
