// The server: the TCP listener and its sessions, the UDP presence socket, the group
// commit, the idle sweep and the signal handlers, all on one loop.
//
// At --max-conns the oldest connection that has not sent its line yet is shed to make
// room; only when every connection is busy with a request does accepting pause, leaving
// the newcomer waiting in libuv (see net/listener.h), so a full server neither spins nor
// drops a request in progress. One address holds at most --max-conns-per-ip connections
// (--trusted addresses, the balancers in front, are exempt). Loop thread only;
// must outlive uv_run.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "net/connection_table.h"
#include "net/graceful_stop.h"
#include "net/listener.h"
#include "net/timer.h"
#include "net/tls_context.h"
#include "server/account_service.h"
#include "server/group_commit.h"
#include "server/options.h"
#include "server/presence_service.h"
#include "server/presence_udp.h"
#include "server/proofs.h"
#include "server/session.h"
#include "server/store.h"

namespace im::server {

class Server final : private net::Listener::Owner,
                     private Session::Owner,
                     private AccountService::Sink,
                     private net::GracefulStop::Owner {
 public:
  // `presence`, if given (--presence), holds presence instead of `store`; the caller
  // owns and closes both.
  Server(uv_loop_t* loop, const ServerOptions& options, Store& store, PresenceStore* presence = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts everything; logs "listening tcp HOST:PORT" and "listening udp ...".
  // On failure fills *error; call Close() and run the loop to release the handles.
  bool Start(std::string* error);
  // Stops at once: closes every handle and session. uv_run returns afterwards.
  void Close();

 private:
  // net::Listener::Owner
  void OnIncoming() override;
  // Session::Owner
  void OnSessionActive(Session* session) override;
  void OnSessionClosing(Session* session) override;
  // AccountService::Sink
  void OnAnswer(uint64_t session_id, proto::Reply reply, std::string_view line) override;
  // net::GracefulStop::Owner
  void OnStopRequested(int signum) override;
  bool Drained() override;
  void OnStopNow() override;

  class SecretLoad;
  void OnSecretLoaded(const SecretQuery& query);
  void AnnounceReady();
  void OnSweep();
  void LogStats(const char* when);

  uv_loop_t* loop_;
  ServerOptions options_;
  Store& store_;
  PresenceStore* presence_store_;
  Proofs proofs_;            // the shared secret, once loaded
  AccountService accounts_;  // passwords and proofs before the commit
  GroupCommit commit_;
  PresenceUdp udp_;
  PresenceService presence_;
  net::Listener listener_;
  net::ConnectionTable<Session> sessions_;
  net::Timer sweep_;  // closes sessions that sent no line within --idle-timeout; stats
  net::GracefulStop stop_;
  std::unique_ptr<SecretLoad> secret_load_;
  // Servers started together on a fresh store race to create the secret: a busy store is
  // asked again on this timer until kSecretRetryMs after the first try.
  net::Timer secret_retry_;
  uint64_t secret_first_try_ms_ = 0;
  sockaddr_storage bound_{};   // the accounts address as bound (its port set per socket when shown)
  bool announced_ = false;     // "listening" and READY=1 said
  net::SslCtxPtr tls_;       // --tls-cert: the TCP port speaks TLS
  bool closed_ = false;
  uint64_t last_stats_ms_ = 0;
  uint64_t accepted_ = 0, idle_closed_ = 0, paused_ = 0, shed_ = 0;
};

}  // namespace im::server
