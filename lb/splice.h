// One client connection spliced to one backend connection, both directions.
//
// Connecting: the client is read from the start, but what it sends is only kept (in
// replay_, one read's worth at most: reading stops once it holds kMaxReplay) until a
// backend accepts, so nothing can be lost or sent to the wrong backend. A backend that
// refuses or does not answer within --connect-timeout is marked down and the next
// healthy one is tried; that retry is safe because no byte has been forwarded. A connect
// that fails for a reason of our own (IsLocalError: out of descriptors, ports, buffers)
// marks no backend down; the client gets the 503. With no healthy backend left the
// client gets "503 NO BACKEND AVAILABLE".
//
// Waiting for the reply: once the request is complete (a '\n', or the client's end), a
// backend has --response-timeout to send one byte back (or to close: then it is not
// stuck, and its end is passed on). One that does not is marked down, its connection is reset
// (RST) and the request, still in replay_ (up to kMaxReplay bytes), goes to the next
// healthy backend. Once a backend has sent a byte it is never retried: it is slow, not
// stuck. docs/DESIGN.md says what this retry does and does not guarantee.
//
// Splicing (as h2o's tunnel): each direction forwards what it reads straight away; if
// the other side cannot take it all, the stream keeps the rest and reading stops until
// it drains. So each direction holds at most one read's worth (64 KiB) and a slow reader
// throttles the fast sender instead of growing memory. EOF on one side becomes a
// shutdown of the other at once (half-close passes through); the pair closes when both
// directions have ended and their bytes are out, when either side fails, or when it has
// been silent for --half-close-timeout after one side ended (IdleSince; the balancer's
// sweep closes it).
//
// Rules: created by Start, deleted once both streams have closed; Close() is idempotent.
// Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

#include "net/tcp_stream.h"
#include "net/timer.h"

namespace im::lb {

class BackendPool;
struct LbOptions;

class Splice {
 public:
  // What a pair needs from the balancer.
  class Owner {
   public:
    virtual BackendPool& pool() = 0;
    virtual void ReportDown(int backend_index, const std::string& why) = 0;
    virtual void OnFirstBytes(Splice* splice) = 0;  // the client has sent something
    virtual void OnClientEnded(Splice* splice) = 0;  // the client has sent everything (EOF)
    virtual void OnRejected(Splice* splice) = 0;    // answered 503
    virtual void OnRetried(Splice* splice) = 0;     // a request went to a second backend
    virtual void OnSpliceClosing(Splice* splice) = 0;

   protected:
    ~Owner() = default;
  };

  // Takes the accepted client; Begin starts connecting to a backend (or Close drops it).
  static Splice* Create(uv_loop_t* loop, net::TcpStream* client, Owner& owner, const LbOptions& options);
  void Begin(uint64_t id);
  Splice(const Splice&) = delete;
  Splice& operator=(const Splice&) = delete;

  void Close() noexcept;
  uint64_t id() const { return id_; }
  uint64_t accepted_ms() const { return accepted_ms_; }
  // Only splicing pairs idle out; connecting and rejecting ones have their own timer.
  // Once the backend has ended, or the client has and the backend has begun its reply,
  // the pair may be silent for half_close_ms only (a client that never closes holds no
  // slot for long). A backend yet to answer is bounded by --response-timeout instead.
  bool IdleSince(uint64_t now_ms, uint64_t idle_ms, uint64_t half_close_ms) const {
    if (state_ != State::kSplicing) return false;
    bool ended = backend_.eof || (client_.eof && answered_);
    return now_ms - last_active_ms_ >= (ended && half_close_ms < idle_ms ? half_close_ms : idle_ms);
  }

 private:
  // A request line is at most 258 bytes; this much is kept for a retry.
  static constexpr size_t kMaxReplay = 4096;

  enum class State {
    kConnecting,  // a backend connect is in flight, timer_ bounds it
    kSplicing,    // both connected, bytes flow; timer_ bounds the wait for a reply
    kRejecting,   // writing 503, then lingering until the client closes (timer_ bounds it)
    kClosing,     // streams closing; the last OnStreamClosed deletes
  };

  // One end of the pair; its events come to the splice with the side they concern.
  struct Side final : net::Stream::Handler {
    Splice* splice = nullptr;
    net::TcpStream* stream = nullptr;  // null once closed
    bool eof = false;                  // this side has sent everything
    void OnStreamConnected(int status) override { splice->OnConnected(*this, status); }
    void OnStreamRead(std::string_view bytes) override { splice->OnRead(*this, bytes); }
    void OnStreamEof() override { splice->OnEof(*this); }
    void OnStreamError(int) override { splice->Close(); }
    void OnStreamDrained() override { splice->OnDrained(*this); }
    void OnStreamClosed() override { splice->OnSideClosed(*this); }
  };

  Splice(uv_loop_t* loop, Owner& owner, const LbOptions& options);
  ~Splice() = default;  // only OnSideClosed deletes
  Side& Other(Side& side) { return &side == &client_ ? backend_ : client_; }
  void ConnectNext();
  void ConnectFailed(int err);
  void OnNoReply();
  void ArmReplyTimer();
  void OnConnected(Side& side, int status);
  void OnRead(Side& from, std::string_view bytes);
  void OnEof(Side& from);
  void OnDrained(Side& to);
  void OnSideClosed(Side& side);
  void OnTimer();
  void Reject();
  void MaybeFinish();

  uv_loop_t* loop_;
  uint64_t id_ = 0;
  Owner& owner_;
  const LbOptions& options_;
  State state_ = State::kConnecting;
  Side client_;
  Side backend_;
  net::Timer timer_;          // connect timeout, then the reply timeout or the 503 linger
  int backend_index_ = -1;    // the backend being tried or spliced to
  std::vector<bool> tried_;   // backends that failed for this client
  uint64_t accepted_ms_ = 0;
  uint64_t last_active_ms_ = 0;
  bool client_spoke_ = false;
  bool answered_ = false;        // the backend has sent a byte: never retried from then on
  bool request_sent_ = false;    // the client has sent a '\n': the reply timer may run
  bool replay_overflow_ = false;  // the client sent more than kMaxReplay: no retry
  std::string replay_;           // what the client sent that no backend has answered yet
};

}  // namespace im::lb
