// One client connection spliced to one backend connection, both directions.
//
// Connecting: the client is not read until a backend accepts, so nothing it sends can be
// lost or sent to the wrong backend; the kernel's socket buffer holds it meanwhile. A
// backend that refuses or does not answer within --connect-timeout is marked down and
// the next healthy one is tried; that retry is safe because no byte has been forwarded.
// With no healthy backend left the client gets "503 NO BACKEND AVAILABLE".
//
// Splicing (as h2o's tunnel): each direction forwards what it reads straight away; if
// the other side cannot take it all, the stream keeps the rest and reading stops until
// it drains. So each direction holds at most one read's worth (64 KiB) and a slow reader
// throttles the fast sender instead of growing memory. EOF on one side becomes a
// shutdown of the other (half-close passes through); the pair closes when both
// directions have ended and their bytes are out, or when either side fails.
//
// Rules: created by Start, deleted once both streams have closed; Close() is idempotent.
// Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
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
    virtual void ReportDown(int backend_index, int err) = 0;
    virtual void OnFirstBytes(Splice* splice) = 0;  // the client has sent something
    virtual void OnRejected(Splice* splice) = 0;    // answered 503
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
  // Only splicing pairs idle out; connecting and rejecting ones have their own timer.
  bool IdleSince(uint64_t now_ms, uint64_t idle_ms) const {
    return state_ == State::kSplicing && now_ms - last_active_ms_ >= idle_ms;
  }

 private:
  enum class State {
    kConnecting,  // a backend connect is in flight, timer_ bounds it
    kSplicing,    // both connected, bytes flow
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
  net::Timer timer_;          // connect timeout, then the 503 linger
  int backend_index_ = -1;    // the backend being tried or spliced to
  std::vector<bool> tried_;   // backends that failed for this client
  uint64_t last_active_ms_ = 0;
  bool client_spoke_ = false;
};

}  // namespace im::lb
