#include "net/tls_stream.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <cstdio>

#include "net/address.h"
#include "net/log.h"
#include "net/tls_context.h"

namespace im::net {
namespace {

TlsStream::Stats g_stats;
constexpr unsigned char kHandshakeRecord = 0x16;  // the first byte of every ClientHello
// What a plain client hears on a TLS-only port before the close: a reply line it can show.
constexpr std::string_view kTlsRequired = "400 TLS REQUIRED\n";

// OpenSSL's verify result in words a user can act on.
std::string VerifyError(long result) {
  std::string text = X509_verify_cert_error_string(result);
  switch (result) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return "unknown CA: the server's certificate is not signed by a trusted CA (" + text + ")";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "name mismatch: the server's certificate is not for this server name (" + text + ")";
    default:
      return "certificate verify failed: " + text;
  }
}

}  // namespace

const TlsStream::Stats& TlsStream::stats() { return g_stats; }

TlsStream::TlsStream(uv_loop_t* loop, Stream* inner, SSL* ssl, Stream::Handler* handler)
    : loop_(loop), inner_(inner), ssl_(ssl), rbio_(BIO_new(BIO_s_mem())), wbio_(BIO_new(BIO_s_mem())) {
  // An empty memory BIO reports "retry", not EOF: WANT_READ until more bytes come.
  BIO_set_mem_eof_return(rbio_, -1);
  BIO_set_mem_eof_return(wbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
  SetHandler(handler);
  inner_->SetHandler(this);
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

TlsStream* TlsStream::Accept(uv_loop_t* loop, Stream* inner, SSL_CTX* ctx, Plaintext plaintext, Stream::Handler* handler) {
  auto* self = new TlsStream(loop, inner, SSL_new(ctx), handler);
  SSL_set_accept_state(self->ssl_);
  self->server_ = true;
  self->sniffing_ = true;
  self->plaintext_ = plaintext;
  return self;
}

TlsStream* TlsStream::Connect(uv_loop_t* loop, Stream* inner, SSL_CTX* ctx, const std::string& server_name,
                              Stream::Handler* handler, SSL_SESSION* session) {
  auto* self = new TlsStream(loop, inner, SSL_new(ctx), handler);
  SSL_set_connect_state(self->ssl_);
  sockaddr_storage ip;
  if (ParseIp(server_name, 0, &ip)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(self->ssl_), server_name.c_str());
  } else {
    SSL_set_tlsext_host_name(self->ssl_, server_name.c_str());  // SNI is for names only
    SSL_set1_host(self->ssl_, server_name.c_str());
  }
  if (session != nullptr) SSL_set_session(self->ssl_, session);
  return self;
}

int TlsStream::ReadStart() {
  if (closing_ || failed_) return UV_ECANCELED;
  if (plain_) return inner_->ReadStart();
  reading_ = true;
  UpdateInnerReading();
  // Records that arrived while reading was off are delivered from the loop, not from here.
  if (handshake_done_ && (pending_cipher() > 0 || SSL_pending(ssl_) > 0)) {
    if (!resume_) resume_ = std::make_unique<Timer>(loop_, this, [](void* self) {
      static_cast<TlsStream*>(self)->Advance();
    });
    resume_->Start(0);
  }
  return 0;
}

void TlsStream::ReadStop() {
  if (closing_) return;
  if (plain_) return inner_->ReadStop();
  reading_ = false;
  UpdateInnerReading();
}

size_t TlsStream::pending_cipher() const { return BIO_ctrl_pending(rbio_); }

// Reads from the inner stream while the handshake needs bytes or our owner wants them,
// and never past the bound of ciphertext waiting to be opened.
void TlsStream::UpdateInnerReading() {
  bool handshaking = !handshake_done_ && !sniffing_ && (!server_ || reading_);
  bool want = !closing_ && !failed_ && !peer_eof_ && pending_cipher() < kMaxPendingCipher &&
              (handshaking || reading_ || (server_ && sniffing_ && reading_));
  if (want == inner_reading_) return;
  inner_reading_ = want;
  if (want) {
    if (int rc = inner_->ReadStart(); rc != 0) inner_reading_ = false;
  } else {
    inner_->ReadStop();
  }
}

void TlsStream::OnStreamConnected(int status) {
  if (closing_) return;
  if (status != 0) {
    failed_ = true;
    if (handler_ != nullptr) handler_->OnStreamConnected(status);
    return;
  }
  Advance();  // sends the ClientHello
  UpdateInnerReading();
}

void TlsStream::OnStreamRead(std::string_view bytes) {
  if (closing_ || failed_) return;
  if (sniffing_) {
    sniffing_ = false;
    if (static_cast<unsigned char>(bytes[0]) != kHandshakeRecord) {
      if (plaintext_ == Plaintext::kRefuse) {
        ++g_stats.refused_plain;
        inner_->Write(kTlsRequired);
        return Fail(UV_EPROTO, "plain text on a TLS-only port");
      }
      ++g_stats.plaintext;
      plain_ = true;
      inner_reading_ = false;  // from now on the owner drives the inner stream directly
      if (!reading_) inner_->ReadStop();
      if (handler_ != nullptr) handler_->OnStreamRead(bytes);
      return;
    }
  }
  if (plain_) {
    if (handler_ != nullptr) handler_->OnStreamRead(bytes);
    return;
  }
  // The inner stream reads at most 64 KiB at a time and stops once kMaxPendingCipher
  // waits, so the read BIO holds at most about twice the bound.
  BIO_write(rbio_, bytes.data(), static_cast<int>(bytes.size()));
  Advance();
}

void TlsStream::Advance() {
  if (closing_ || failed_) return;
  if (!handshake_done_) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    Flush();
    if (rc == 1) {
      HandshakeDone();
    } else {
      int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (peer_eof_) return Fail(UV_EOF, "the peer closed the connection during the TLS handshake");
        return UpdateInnerReading();
      }
      long verify = SSL_get_verify_result(ssl_);
      if (!server_ && verify != X509_V_OK) return Fail(UV_EPROTO, VerifyError(verify));
      return Fail(UV_EPROTO, "TLS handshake failed: " + TlsErrorText());
    }
  }
  static char plain[16 * 1024];  // consumed inside the handler's callback, as TcpStream's
  while (reading_ && !closing_ && !failed_ && !eof_reported_) {
    size_t n = 0;
    ERR_clear_error();
    int rc = SSL_read_ex(ssl_, plain, sizeof plain, &n);
    Flush();  // TLS 1.3 sends tickets and key updates from inside reads
    if (rc == 1) {
      if (handler_ != nullptr) handler_->OnStreamRead(std::string_view(plain, n));
      continue;
    }
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ) break;
    if (err == SSL_ERROR_ZERO_RETURN) {  // close_notify: the peer has finished sending
      peer_eof_ = true;
      break;
    }
    return Fail(UV_EPROTO, "bad TLS record: " + TlsErrorText());
  }
  ReportEofIfDone();
  UpdateInnerReading();
}

void TlsStream::ReportEofIfDone() {
  if (!peer_eof_ || eof_reported_ || closing_ || failed_ || !reading_) return;
  if (pending_cipher() > 0 && SSL_get_shutdown(ssl_) == 0) return;  // records left to open
  eof_reported_ = true;
  if (handler_ != nullptr) handler_->OnStreamEof();
}

void TlsStream::HandshakeDone() {
  handshake_done_ = true;
  ++g_stats.handshakes;
  if (SSL_session_reused(ssl_)) ++g_stats.resumed;
  FlushPendingPlain();
  if (failed_ || closing_) return;
  if (shutdown_wanted_) {
    shutdown_wanted_ = false;
    if (int rc = Shutdown(); rc != 0) return Fail(rc, "shutdown failed");
  }
  if (!server_ && handler_ != nullptr) handler_->OnStreamConnected(0);
}

void TlsStream::FlushPendingPlain() {
  if (pending_plain_.empty()) return;
  std::string bytes = std::move(pending_plain_);
  pending_plain_.clear();
  if (int rc = Write(bytes); rc != 0) Fail(rc, "write failed");
}

void TlsStream::Flush() {
  char buf[16 * 1024];
  while (BIO_ctrl_pending(wbio_) > 0 && !failed_ && !closing_) {
    int n = BIO_read(wbio_, buf, sizeof buf);
    if (n <= 0) break;
    if (int rc = inner_->Write(std::string_view(buf, static_cast<size_t>(n))); rc != 0) {
      failed_ = true;  // the inner stream has failed: its own error event follows
      error_ = uv_strerror(rc);
    }
  }
}

void TlsStream::Fail(int status, std::string why) {
  if (failed_ || closing_) return;
  failed_ = true;
  error_ = std::move(why);
  if (!handshake_done_ && !plain_) ++g_stats.failed;
  IM_LOG(kDebug, "tls %s: %s", FormatAddress(inner_->peer()).c_str(), error_.c_str());
  if (handler_ == nullptr) return;
  if (!server_ && !handshake_done_) {
    handler_->OnStreamConnected(status);
  } else {
    handler_->OnStreamError(status);
  }
}

int TlsStream::Write(std::string_view bytes) {
  if (closing_ || failed_) return UV_ECANCELED;
  if (plain_) return inner_->Write(bytes);
  if (shutdown_wanted_ || SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) return UV_EPIPE;
  if (!handshake_done_) {
    pending_plain_.append(bytes);  // counted by write_queue_bytes, so backpressure holds
    return 0;
  }
  while (!bytes.empty()) {
    size_t written = 0;
    ERR_clear_error();
    if (SSL_write_ex(ssl_, bytes.data(), bytes.size(), &written) != 1) return UV_EPROTO;
    bytes.remove_prefix(written);
    Flush();
    if (failed_) return UV_ECANCELED;
  }
  return 0;
}

size_t TlsStream::write_queue_bytes() const {
  return pending_plain_.size() + BIO_ctrl_pending(wbio_) + inner_->write_queue_bytes();
}

int TlsStream::Shutdown() {
  if (closing_ || failed_) return UV_ECANCELED;
  if (plain_) return inner_->Shutdown();
  if (!handshake_done_) {
    shutdown_wanted_ = true;  // after the handshake and the bytes queued before it
    return 0;
  }
  SSL_shutdown(ssl_);  // queues close_notify; we do not wait for the peer's
  Flush();
  return inner_->Shutdown();
}

void TlsStream::OnStreamEof() {
  if (closing_ || failed_) return;
  peer_eof_ = true;
  if (plain_ || sniffing_) {
    sniffing_ = false;
    plain_ = true;
    if (handler_ != nullptr) handler_->OnStreamEof();
    return;
  }
  if (!handshake_done_) return Fail(UV_EOF, "the peer closed the connection during the TLS handshake");
  Advance();
  // A peer that closes without close_notify has still finished sending: its line
  // protocol frames what it sent.
  if (pending_cipher() == 0) ReportEofIfDone();
}

void TlsStream::OnStreamError(int status) {
  if (closing_) return;
  if (plain_) {
    failed_ = true;
    if (handler_ != nullptr) handler_->OnStreamError(status);
    return;
  }
  Fail(status, uv_strerror(status));
}

void TlsStream::OnStreamDrained() {
  if (closing_ || !pending_plain_.empty()) return;
  if ((handshake_done_ || plain_) && handler_ != nullptr) handler_->OnStreamDrained();
}

void TlsStream::Close() {
  if (closing_) return;
  // A close after a finished handshake says so (close_notify), best effort: a client that
  // saw the TCP FIN alone could not tell our end from a cut connection.
  if (handshake_done_ && !plain_ && !failed_ && (SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) == 0) {
    SSL_shutdown(ssl_);
    Flush();
  }
  closing_ = true;
  resume_.reset();
  inner_->Close();  // its OnStreamClosed comes from the loop and ends us
}

void TlsStream::OnStreamClosed() {
  if (handler_ != nullptr) handler_->OnStreamClosed();
  delete this;
}

bool TlsStream::resumed() const { return handshake_done_ && SSL_session_reused(ssl_); }

SSL_SESSION* TlsStream::TakeSession() const { return handshake_done_ ? SSL_get1_session(ssl_) : nullptr; }

std::string TlsStream::PeerFingerprint() const {
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return "";
  std::string hex;
  char two[3];
  for (unsigned i = 0; i < len; ++i) {
    std::snprintf(two, sizeof two, "%02x", md[i]);
    hex += two;
  }
  return hex;
}

}  // namespace im::net
