// The client's presence: every interval it sends "SET <me> ONLINE <msgport>" and
// "GET <me>" over one UDP socket, keeps the latest buddy list, and tells its owner when a
// buddy's state changes. UDP may lose either; the next interval repairs it.
//
// With a session every datagram carries a proof (Session::ProveDatagram). A "COOKIE <c>"
// answer means the server wants proof that we receive at our address: the cookie goes on
// every datagram from then on, and what it answered is sent again at once — once per
// datagram sent, so a server (or a forger) repeating COOKIE cannot make us loop. Loop
// thread only; the object must outlive uv_run.
#pragma once

#include <uv.h>

#include <string>
#include <vector>

#include "client/session.h"
#include "net/timer.h"
#include "proto/presence.h"

namespace im::client {

class Presence {
 public:
  class Owner {
   public:
    // A buddy went online (or moved), or offline.
    virtual void OnBuddyChanged(const proto::BuddyStatus& buddy) = 0;
    // The server answered GET with 401: our proof was refused (once per refusal streak).
    virtual void OnPresenceUnauthorized() {}
   protected:
    ~Owner() = default;
  };

  // `chat_key` is our chat key's fingerprint, published with every SET (empty: none);
  // GETs ask for the buddies' fingerprints. `session` (may be null: no proofs) must
  // outlive this.
  Presence(uv_loop_t* loop, Owner& owner, const sockaddr* server, std::string me, uint64_t interval_ms,
           std::string chat_key = {}, Session* session = nullptr);
  Presence(const Presence&) = delete;
  Presence& operator=(const Presence&) = delete;

  // Binds an ephemeral UDP port, sends the first SET and GET now, then every interval.
  int Start(uint16_t msg_port);
  void AskNow();         // an extra GET, e.g. right after ADD/DEL
  void SendOffline();    // "SET <me> OFFLINE 0", at once
  void Forget(const std::string& id);  // after a DEL: gone from the list at once
  void Close();

  bool have_list() const { return have_list_; }
  const std::vector<proto::BuddyStatus>& buddies() const { return buddies_; }
  const proto::BuddyStatus* Find(const std::string& id) const;

 private:
  void OnTimer();
  static void OnRecv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                     unsigned flags) noexcept;
  void SendSet(bool online, uint16_t port);
  void SendGet();
  void Send(const std::string& unsigned_datagram);  // proves it if there is a session
  void OnReply(std::string_view datagram);
  void OnCookie(const std::string& cookie);

  uv_loop_t* loop_;
  Owner& owner_;
  sockaddr_storage server_{};
  std::string me_;
  std::string chat_key_;
  uint64_t interval_ms_;
  uint16_t msg_port_ = 0;
  uv_udp_t udp_;
  net::Timer timer_;  // the SET + GET interval
  bool started_ = false;
  bool have_list_ = false;
  Session* session_;
  std::string cookie_;           // from the latest COOKIE answer; empty before
  bool set_resendable_ = false;  // a SET went out and was not yet resent for a COOKIE
  bool get_resendable_ = false;
  bool last_online_ = true;      // what the last SET said, for its resend
  uint16_t last_port_ = 0;
  bool unauthorized_ = false;    // the last GET got 401
  std::vector<proto::BuddyStatus> buddies_;  // sorted by id, from the latest GET
  char recv_buf_[proto::kMaxDatagramBytes];
};

}  // namespace im::client
