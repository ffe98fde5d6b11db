// The listening socket for incoming chats and the callers that have not said HELLO yet.
// At most kMaxCallers wait at once (kMaxCallersPerAddress from one IP, so one host
// cannot take every slot from the others), each bounded by the handshake timeout, so
// silent connections (a port scan, a flood) cost a bounded number of sockets; more are
// dropped at once. A caller that says HELLO is handed to the owner, which answers it.
// Loop thread only; the object must outlive uv_run.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "client/peer_conn.h"
#include "net/listener.h"

namespace im::client {

class ChatListener final : private net::Listener::Owner, private PeerConn::Owner {
 public:
  class Owner {
   public:
    // A caller said HELLO as `peer`. REQUIRES: the owner calls conn->Accept(its owner)
    // or conn->Refuse() before returning; the listener has forgotten conn.
    virtual void OnCaller(PeerConn* conn, const std::string& peer) = 0;

   protected:
    ~Owner() = default;
  };

  static constexpr size_t kMaxCallers = 16;
  static constexpr size_t kMaxCallersPerAddress = 4;

  // `identity` answers encrypted calls; it must outlive this.
  ChatListener(uv_loop_t* loop, Owner& owner, uint64_t timeout_ms, const auth::ChatIdentity& identity);
  ChatListener(const ChatListener&) = delete;
  ChatListener& operator=(const ChatListener&) = delete;

  // Listens on every IPv4 address at `port` (0: a free port the kernel picks). On failure
  // *error says why ("listen tcp 0.0.0.0:5000: address already in use").
  bool Listen(int port, std::string* error);
  int port() const { return listener_.LocalPort(); }
  // Stops listening and drops every caller still waiting. Idempotent.
  void Close();

 private:
  // net::Listener::Owner
  void OnIncoming() override;
  // PeerConn::Owner, while a caller has not said HELLO
  void OnPeerHello(PeerConn* conn, const std::string& peer) override;
  void OnPeerGone(PeerConn* conn, PeerConn::End end, int status) override;

  uv_loop_t* loop_;
  Owner& owner_;
  uint64_t timeout_ms_;
  const auth::ChatIdentity& identity_;
  net::Listener listener_;
  std::vector<PeerConn*> callers_;  // accepted, no HELLO yet; at most kMaxCallers
  bool closed_ = false;
};

}  // namespace im::client
