// The transport seam: a byte stream the protocol classes read and write without knowing
// what carries it. TcpStream is plain TCP; a TLS stream wraps another Stream and is used
// the same way. Line framing sits on top (LineStream).
//
// Rules (as node's HandleWrap, one level up):
// - A Stream frees itself once its close has completed; nobody deletes one. Close() is
//   idempotent and safe from inside any of its callbacks.
// - After Close() the handler hears exactly one more event, OnStreamClosed, from the loop
//   (never from inside Close). An owner may delete itself there. An owner that goes away
//   earlier calls Abandon() (what StreamPtr does), and hears nothing at all.
// - No callback is ever made from inside the call that caused it (Write, Shutdown,
//   ReadStart): results arrive from the loop, as libuv's own.
// Loop thread only.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <memory>
#include <string_view>

namespace im::net {

class Stream {
 public:
  class Handler {
   public:
    // An outgoing stream is ready (0) or could not be set up (a libuv error; then only
    // OnStreamClosed follows once the owner closes it). For a TLS stream, after the
    // handshake and the peer's certificate check.
    virtual void OnStreamConnected(int status) { (void)status; }
    virtual void OnStreamRead(std::string_view bytes) = 0;
    // The peer has finished sending (half-close); writing still works.
    virtual void OnStreamEof() = 0;
    // The stream failed (reset, a failed write, a bad TLS record): close it.
    virtual void OnStreamError(int status) = 0;
    // Everything written has left the write queue (only after a write had to queue).
    virtual void OnStreamDrained() {}
    virtual void OnStreamClosed() = 0;

   protected:
    ~Handler() = default;
  };

  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  void SetHandler(Handler* handler) { handler_ = handler; }
  virtual int ReadStart() = 0;
  virtual void ReadStop() = 0;
  // Sends the bytes (copying what cannot go out at once). 0, or a libuv error if the
  // stream has already failed or is closing.
  virtual int Write(std::string_view bytes) = 0;
  // Bytes accepted by Write but not yet handed to the kernel: what backpressure watches.
  virtual size_t write_queue_bytes() const = 0;
  // Ends our side once the queued bytes are out (TCP FIN; TLS close_notify, then FIN).
  virtual int Shutdown() = 0;
  virtual void Close() = 0;
  // Close() for an owner that is going away: no more callbacks at all.
  void Abandon() {
    handler_ = nullptr;
    Close();
  }
  // The remote address, known from the start for accepted and connected TCP streams.
  virtual const sockaddr_storage& peer() const = 0;
  // An error the kernel has recorded for the connection though its bytes could still be
  // read (a reset that arrived after the request): 0 if none. A server checks it before
  // applying a request, so one a balancer gave up on and retried elsewhere is not
  // applied here too. Clears the error, as SO_ERROR does.
  virtual int TakePendingError() { return 0; }

 protected:
  Stream() = default;
  virtual ~Stream() = default;  // only the stream itself deletes, after its close
  Handler* handler_ = nullptr;
};

// Owns a stream the way a unique_ptr owns memory: going out of scope abandons it.
struct AbandonStream {
  void operator()(Stream* stream) const { stream->Abandon(); }
};
using StreamPtr = std::unique_ptr<Stream, AbandonStream>;

}  // namespace im::net
