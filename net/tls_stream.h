// A Stream that speaks TLS over another Stream (a TcpStream), through OpenSSL memory BIOs:
// ciphertext the inner stream reads is fed to the SSL, what the SSL produces is written
// to the inner stream after every SSL call. No blocking calls, no threads.
//
// Bounds: at most kMaxPendingCipher bytes of received ciphertext wait in the read BIO
// (the inner stream stops reading past it, and while our owner does not read); the
// write BIO is emptied after every call, so what waits to go out is the inner stream's
// queue plus plaintext written before the handshake finished, and write_queue_bytes()
// reports both. OnStreamConnected (client side) comes after the handshake and the
// certificate check; error() says why one failed. Shutdown sends close_notify, then
// shuts the inner stream. Loop thread only; see stream.h for the lifetime rules.
#pragma once

#include <openssl/ssl.h>

#include <uv.h>

#include <memory>
#include <string>

#include "net/stream.h"
#include "net/timer.h"

namespace im::net {

class TlsStream final : public Stream, private Stream::Handler {
 public:
  enum class Plaintext {
    kRefuse,  // only TLS
    kAllow,   // a first byte that does not start a TLS record: the connection is plain
  };
  struct Stats {
    uint64_t handshakes = 0;   // completed, resumed or not
    uint64_t resumed = 0;
    uint64_t failed = 0;       // handshake failures and bad records before it finished
    uint64_t plaintext = 0;    // connections that turned out to be plain (kAllow)
    uint64_t refused_plain = 0;  // plain connections refused (kRefuse)
  };
  static constexpr size_t kMaxPendingCipher = 64 * 1024;

  // Serves TLS on an accepted stream; the handshake runs once the owner starts reading.
  static TlsStream* Accept(uv_loop_t* loop, Stream* inner, SSL_CTX* ctx, Plaintext plaintext, Stream::Handler* handler);
  // Speaks TLS on a stream that is connecting, verifying the server as `server_name`
  // (a DNS name or an IP address). `session` (may be null) is offered for resumption.
  static TlsStream* Connect(uv_loop_t* loop, Stream* inner, SSL_CTX* ctx, const std::string& server_name, Stream::Handler* handler,
                            SSL_SESSION* session = nullptr);

  int ReadStart() override;
  void ReadStop() override;
  int Write(std::string_view bytes) override;
  size_t write_queue_bytes() const override;
  int Shutdown() override;
  void Close() override;
  const sockaddr_storage& peer() const override { return inner_->peer(); }
  int TakePendingError() override { return inner_->TakePendingError(); }

  // Why the handshake or a record failed, for the user ("certificate verify failed:
  // unable to get local issuer certificate"); empty if nothing failed.
  const std::string& error() const { return error_; }
  bool plain() const { return plain_; }
  bool resumed() const;
  // The session to offer next time (null if none); the caller owns a reference.
  SSL_SESSION* TakeSession() const;
  // SHA-256 of the peer's certificate as lowercase hex; empty if it sent none.
  std::string PeerFingerprint() const;
  // Counters of this process's TLS streams.
  static const Stats& stats();

 private:
  TlsStream(uv_loop_t* loop, Stream* inner, SSL* ssl, Stream::Handler* handler);
  ~TlsStream() override;

  // Stream::Handler (the inner stream's events)
  void OnStreamConnected(int status) override;
  void OnStreamRead(std::string_view bytes) override;
  void OnStreamEof() override;
  void OnStreamError(int status) override;
  void OnStreamDrained() override;
  void OnStreamClosed() override;

  // Runs the handshake and reads records as far as the bytes allow.
  void Advance();
  void ReportEofIfDone();
  void HandshakeDone();
  void Flush();            // write BIO -> inner stream
  void FlushPendingPlain();
  void Fail(int status, std::string why);
  void UpdateInnerReading();
  size_t pending_cipher() const;

  uv_loop_t* loop_;
  Stream* inner_;
  std::unique_ptr<Timer> resume_;  // delivers what waited while reading was off (made on first use)
  SSL* ssl_;
  BIO* rbio_;                  // owned by ssl_
  BIO* wbio_;                  // owned by ssl_
  std::string pending_plain_;  // written before the handshake finished
  std::string error_;
  Plaintext plaintext_ = Plaintext::kRefuse;
  bool server_ = false;
  bool sniffing_ = false;      // server: the first byte decides TLS or plain
  bool plain_ = false;         // passthrough: the peer spoke plain text
  bool handshake_done_ = false;
  bool reading_ = false;       // the owner wants bytes
  bool inner_reading_ = false;
  bool peer_eof_ = false;
  bool eof_reported_ = false;
  bool shutdown_wanted_ = false;
  bool closing_ = false;
  bool failed_ = false;
};

}  // namespace im::net
