// One TCP connection to another client for a chat (docs/PROTOCOL.md, "Chat").
//
// A caller connects and sends "HELLO <me>", then waits for OK or BUSY. A callee reads the
// HELLO and its owner answers at once: Accept (OK) or Refuse (BUSY, then close). Then each
// line is "MSG <text>", and "BYE" ends the chat. The waits before the chat is open are
// bounded by one timer; framing and the line bound are LineStream's.
//
// Encrypted (the caller knows the callee's key fingerprint): HELLO and OK carry keys
// (auth/chat_crypto.h), the caller checks that the callee holds the pinned key before the
// chat opens, then sends READY, which proves its own key to the callee; the callee's
// owner checked the caller's fingerprint at HELLO. From then on every line is a sealed
// record, and plain lines are ignored (anyone on the path could inject them).
//
// Rules: a PeerConn deletes itself once its stream has closed (OnLinesClosed), never from
// inside a call. Its owner hears every event from the loop, each at most once, and
// nothing after Refuse, Leave or Close, or after OnPeerGone. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/chat_crypto.h"
#include "net/line_stream.h"
#include "net/timer.h"
#include "proto/chat.h"

namespace im::client {

class PeerConn final : private net::LineStream::Handler {
 public:
  // Why a connection is over, for the owner to put in words.
  enum class End {
    kUnreachable,     // caller: the connect failed (the status says why)
    kNoAnswer,        // caller: no OK or BUSY within the timeout
    kBusy,            // caller: the callee answered BUSY
    kNotAChatClient,  // caller: the callee answered something else
    kHungUp,          // caller: the callee closed before answering
    kLeft,            // the peer said BYE
    kDisconnected,    // the connection ended without BYE (crash, reset, a failed write)
    kTooLong,         // the peer sent a line over proto::kMaxChatLineBytes
    kNoHello,         // callee: the caller never said who it was (nothing to tell anyone)
    kWrongKey,        // encrypted: the peer does not hold the key its buddy entry pins
                      // (caller), or its READY did not prove its key (callee)
    kForged,          // encrypted: a record failed authentication (altered, replayed, injected)
  };

  class Owner {
   public:
    // Callee: a valid HELLO came. REQUIRES: the owner calls Accept or Refuse before returning.
    virtual void OnPeerHello(PeerConn* conn, const std::string& peer) { (void)conn, (void)peer; }
    // The chat is open: the caller got OK (and, encrypted, the callee proved its key);
    // the callee accepted (and, encrypted, the caller's READY proved its key).
    virtual void OnPeerAccepted(PeerConn* conn) { (void)conn; }
    // A message; the text is the peer's as sent (Printable it to show it).
    virtual void OnPeerMessage(PeerConn* conn, const std::string& text) { (void)conn, (void)text; }
    // The connection is over and closing; `status` is a libuv error for kUnreachable.
    virtual void OnPeerGone(PeerConn* conn, End end, int status) = 0;

   protected:
    ~Owner() = default;
  };

  // Caller: connects to `addr` and says HELLO as `me`; `peer` is who we think answers.
  // With `peer_key` (the fingerprint from peer's buddy entry) the chat is encrypted and
  // only the holder of that key can open it; empty, it is plain.
  static PeerConn* Call(uv_loop_t* loop, Owner& owner, const sockaddr* addr, std::string_view me, std::string peer,
                        uint64_t timeout_ms, const auth::ChatIdentity& identity, std::string peer_key);
  // Callee: takes the connection waiting on `listener` and waits for its HELLO. nullptr
  // if it was gone already. `identity` answers an encrypted HELLO; it must outlive this.
  static PeerConn* Answer(uv_loop_t* loop, Owner& owner, uv_stream_t* listener, uint64_t timeout_ms,
                          const auth::ChatIdentity& identity);
  PeerConn(const PeerConn&) = delete;
  PeerConn& operator=(const PeerConn&) = delete;

  void Accept(Owner& owner);  // callee: send OK; `owner` hears the chat (OnPeerAccepted first)
  void Refuse();              // callee: send BUSY, then close
  void SendMessage(std::string_view text);
  void Leave();               // send BYE if the chat is open, then close
  void Close();               // close now
  const std::string& peer() const { return peer_; }
  bool encrypted() const { return handshake_ != nullptr || send_.has_value(); }
  // The fingerprint of the peer's key: the pinned one (caller) or the one the HELLO
  // offered (callee, for its owner to compare with the buddy entry); empty if plain.
  const std::string& peer_key() const { return peer_key_; }
  // The address the connection comes from (callee) or goes to (caller).
  const sockaddr* remote() const { return reinterpret_cast<const sockaddr*>(&remote_); }

 private:
  enum class State {
    kConnecting,      // caller: connect in flight
    kAwaitingOk,      // caller: HELLO sent
    kAwaitingHello,   // callee: accepted, nothing heard yet
    kAwaitingAnswer,  // callee: HELLO heard, the owner is deciding
    kAwaitingReady,   // callee, encrypted: OK sent, waiting for the caller's proof
    kOpen,            // the chat
    kLastLine,        // BYE or BUSY is being written; closes once it has left
    kClosed,          // the stream is closing; OnLinesClosed deletes
  };

  PeerConn(uv_loop_t* loop, Owner& owner, State state, const auth::ChatIdentity& identity, uint64_t timeout_ms);
  ~PeerConn() = default;  // only OnLinesClosed deletes
  void Send(std::string_view line);
  void SendLast(std::string_view line);
  std::string Sealed(std::string_view line);  // the record line for a chat line, when encrypted
  void Gone(End end, int status = 0);
  void Opened();
  void OnTimer();
  void OnChatLine(std::string_view line);
  void OnHello(proto::ChatLine hello);
  void OnOk(const proto::ChatLine& ok);
  void OnReady(const proto::ChatLine& ready);
  void OnRecord(std::string_view record);
  void OnStreamOver();

  // net::LineStream::Handler
  void OnLinesConnected(int status) override;
  void OnLine(std::string_view line) override { OnChatLine(line); }
  void OnLineTooLong() override;
  void OnLinesEnd(std::string_view) override { OnStreamOver(); }
  void OnLinesError(int) override { OnStreamOver(); }
  void OnLinesDrained() override;
  void OnLinesClosed() override { delete this; }

  Owner* owner_;             // null once the owner may hear nothing more
  State state_;
  uint64_t timeout_ms_;      // each wait of the handshake
  std::string peer_;         // known after HELLO (callee) or from the start (caller)
  std::string hello_;        // caller: the HELLO line, sent once connected
  sockaddr_storage remote_{};
  bool write_failed_ = false;  // a write failed at once: reported from the timer
  bool open_unreported_ = false;  // callee, plain: Accept opened the chat; told from the timer
  const auth::ChatIdentity& identity_;
  std::string peer_key_;
  std::unique_ptr<auth::ChatHandshake> handshake_;  // until both streams exist
  std::optional<auth::ChatStream> send_, receive_;
  net::LineStream lines_;
  net::Timer timer_;         // the handshake bound, and the deferred report of a failed write
};

}  // namespace im::client
