#include "client/peer_conn.h"

#include <cstring>

#include "auth/keys.h"
#include "net/address.h"
#include "net/tcp_stream.h"
#include "proto/line.h"

namespace im::client {

using auth::DecodeBase64Url;
using auth::EncodeBase64Url;

PeerConn::PeerConn(uv_loop_t* loop, Owner& owner, State state, const auth::ChatIdentity& identity,
                   uint64_t timeout_ms)
    : owner_(&owner),
      state_(state),
      timeout_ms_(timeout_ms),
      identity_(identity),
      lines_(proto::kMaxChatWireBytes, *this),
      timer_(loop, this, [](void* self) { static_cast<PeerConn*>(self)->OnTimer(); }) {}

PeerConn* PeerConn::Call(uv_loop_t* loop, Owner& owner, const sockaddr* addr, std::string_view me,
                         std::string peer, uint64_t timeout_ms, const auth::ChatIdentity& identity,
                         std::string peer_key) {
  auto* conn = new PeerConn(loop, owner, State::kConnecting, identity, timeout_ms);
  conn->peer_ = std::move(peer);
  std::memcpy(&conn->remote_, addr, net::AddressLength(addr));
  if (peer_key.empty()) {
    conn->hello_ = proto::FormatHello(me);
  } else {
    conn->peer_key_ = std::move(peer_key);
    conn->handshake_ = std::make_unique<auth::ChatHandshake>(identity, true);
    conn->hello_ = proto::FormatSecureHello(me, EncodeBase64Url(conn->handshake_->ephemeral_public()),
                                            EncodeBase64Url(identity.public_key()));
  }
  // A connect that fails at once is still reported from the loop (OnLinesConnected).
  conn->lines_.Attach(net::TcpStream::Connect(loop, addr, nullptr));
  conn->timer_.Start(conn->timeout_ms_);
  return conn;
}

PeerConn* PeerConn::Answer(uv_loop_t* loop, Owner& owner, uv_stream_t* listener, uint64_t timeout_ms,
                           const auth::ChatIdentity& identity) {
  net::TcpStream* stream = net::TcpStream::Accept(listener, nullptr);
  if (stream == nullptr) return nullptr;
  auto* conn = new PeerConn(loop, owner, State::kAwaitingHello, identity, timeout_ms);
  conn->remote_ = stream->peer();
  conn->lines_.Attach(stream);
  if (conn->lines_.StartReading() != 0) {
    conn->Close();
    return nullptr;
  }
  conn->timer_.Start(conn->timeout_ms_);
  return conn;
}

void PeerConn::OnLinesConnected(int status) {
  if (state_ != State::kConnecting) return;
  if (status != 0) return Gone(End::kUnreachable, status);
  state_ = State::kAwaitingOk;
  if (lines_.StartReading() != 0 || lines_.Write(hello_) != 0) Gone(End::kHungUp);
}

void PeerConn::OnChatLine(std::string_view line) {
  proto::ChatLine chat = proto::ParseChatLine(line);
  switch (state_) {
    case State::kAwaitingHello:
      if (chat.kind != proto::ChatKind::kHello) return Gone(End::kNoHello);  // not one of ours: drop it quietly
      return OnHello(std::move(chat));
    case State::kAwaitingOk:
      if (chat.kind == proto::ChatKind::kOk) return OnOk(chat);
      return Gone(chat.kind == proto::ChatKind::kBusy ? End::kBusy : End::kNotAChatClient);
    case State::kAwaitingReady:
      if (chat.kind != proto::ChatKind::kReady) return Gone(End::kWrongKey);
      return OnReady(chat);
    case State::kOpen:
      if (receive_) {
        if (chat.kind == proto::ChatKind::kRecord) OnRecord(chat.arg);
        return;  // a plain line inside an encrypted chat is not the peer's
      }
      if (chat.kind == proto::ChatKind::kMessage) {
        if (owner_ != nullptr) owner_->OnPeerMessage(this, chat.arg);
      } else if (chat.kind == proto::ChatKind::kBye) {
        Gone(End::kLeft);
      }  // anything else is ignored: a newer peer may say more
      return;
    default:
      return;  // kLastLine: we are leaving and listen no more
  }
}

// Callee: a HELLO, plain or with the caller's keys. The keys are checked for shape and
// the shared keys derived here; whether they are the claimed buddy's is the owner's call.
void PeerConn::OnHello(proto::ChatLine hello) {
  peer_ = std::move(hello.arg);
  if (hello.encrypted()) {
    auto ephemeral = DecodeBase64Url(hello.ephemeral);
    auto identity = DecodeBase64Url(hello.identity);
    handshake_ = std::make_unique<auth::ChatHandshake>(identity_, false);
    if (!ephemeral || !identity || !handshake_->Derive(*ephemeral, *identity)) return Gone(End::kNoHello);
    peer_key_ = auth::ChatFingerprint(*identity);
  }
  state_ = State::kAwaitingAnswer;
  timer_.Stop();
  owner_->OnPeerHello(this, peer_);
}

// Caller: OK. Encrypted, it must show the pinned key and prove it holds it (its first
// record opens only with keys derived from that key's secret half).
void PeerConn::OnOk(const proto::ChatLine& ok) {
  if (handshake_ == nullptr) {
    if (ok.encrypted()) return Gone(End::kNotAChatClient);
    state_ = State::kOpen;
    timer_.Stop();
    return owner_->OnPeerAccepted(this);
  }
  auto ephemeral = DecodeBase64Url(ok.ephemeral);
  auto identity = DecodeBase64Url(ok.identity);
  auto header = DecodeBase64Url(ok.header);
  auto confirm = DecodeBase64Url(ok.confirm);
  if (!ok.encrypted() || !ephemeral || !identity || !header || !confirm ||
      auth::ChatFingerprint(*identity) != peer_key_ || !handshake_->Derive(*ephemeral, *identity)) {
    return Gone(End::kWrongKey);
  }
  receive_ = handshake_->StartReceiving(*header);
  if (!receive_ || !receive_->Open(*confirm)) return Gone(End::kWrongKey);
  std::string my_header;
  send_ = handshake_->StartSending(&my_header);
  handshake_.reset();
  state_ = State::kOpen;
  timer_.Stop();
  Send(proto::FormatReady(EncodeBase64Url(my_header), EncodeBase64Url(send_->Seal(""))));
  owner_->OnPeerAccepted(this);
}

// Callee: READY, the caller's proof that it holds the key its HELLO offered.
void PeerConn::OnReady(const proto::ChatLine& ready) {
  auto header = DecodeBase64Url(ready.header);
  auto confirm = DecodeBase64Url(ready.confirm);
  if (header) receive_ = handshake_->StartReceiving(*header);
  if (!receive_ || !confirm || !receive_->Open(*confirm)) return Gone(End::kWrongKey);
  handshake_.reset();
  Opened();
}

void PeerConn::OnRecord(std::string_view record) {
  auto sealed = DecodeBase64Url(record);
  std::optional<std::string> plaintext = sealed ? receive_->Open(*sealed) : std::nullopt;
  if (!plaintext) return Gone(End::kForged);
  proto::ChatLine chat = proto::ParseChatLine(*plaintext);
  if (chat.kind == proto::ChatKind::kMessage) {
    if (owner_ != nullptr) owner_->OnPeerMessage(this, chat.arg);
  } else if (chat.kind == proto::ChatKind::kBye) {
    Gone(End::kLeft);
  }  // as in a plain chat, what we do not know is ignored
}

void PeerConn::Opened() {
  state_ = State::kOpen;
  timer_.Stop();
  if (owner_ != nullptr) owner_->OnPeerAccepted(this);
}

void PeerConn::OnLineTooLong() { Gone(state_ == State::kAwaitingHello ? End::kNoHello : End::kTooLong); }

// The peer finished sending or the stream failed (a reset, a failed write).
void PeerConn::OnStreamOver() {
  switch (state_) {
    case State::kOpen: return Gone(End::kDisconnected);
    case State::kAwaitingOk: return Gone(End::kHungUp);
    case State::kAwaitingReady: return Gone(End::kWrongKey);  // it could not prove its key
    case State::kLastLine: return Close();  // nobody left to tell
    default: return Gone(End::kNoHello);   // a caller that left before saying who it was
  }
}

void PeerConn::OnTimer() {
  if (write_failed_) return Gone(End::kDisconnected);
  if (open_unreported_) {
    open_unreported_ = false;
    if (owner_ != nullptr) owner_->OnPeerAccepted(this);
    return;
  }
  switch (state_) {
    case State::kConnecting:
    case State::kAwaitingOk: return Gone(End::kNoAnswer);
    case State::kAwaitingReady: return Gone(End::kWrongKey);
    default: return Gone(End::kNoHello);  // a caller that never said HELLO
  }
}

void PeerConn::Accept(Owner& owner) {
  owner_ = &owner;
  if (handshake_ == nullptr) {
    state_ = State::kOpen;
    Send(proto::kChatOk);
    // Told from the loop, never from inside the owner's own call.
    open_unreported_ = true;
    timer_.Start(0);
    return;
  }
  std::string header;
  send_ = handshake_->StartSending(&header);
  state_ = State::kAwaitingReady;
  Send(proto::FormatSecureOk(EncodeBase64Url(handshake_->ephemeral_public()), EncodeBase64Url(identity_.public_key()),
                             EncodeBase64Url(header), EncodeBase64Url(send_->Seal(""))));
  timer_.Start(timeout_ms_);
}

void PeerConn::Refuse() { SendLast(proto::kChatBusy); }

void PeerConn::SendMessage(std::string_view text) {
  if (state_ == State::kOpen) Send(Sealed(proto::FormatMessage(text)));
}

void PeerConn::Leave() {
  if (state_ == State::kOpen) return SendLast(Sealed(proto::kChatBye));
  Close();
}

std::string PeerConn::Sealed(std::string_view line) {
  if (!send_) return std::string(line);
  return proto::FormatRecord(EncodeBase64Url(send_->Seal(proto::StripLineEnd(line))));
}

void PeerConn::Send(std::string_view line) {
  // A write that fails at once means the peer is gone: say so from the loop, as for every
  // other event, so the owner is never called back from inside its own call.
  if (lines_.Write(line) != 0 && !write_failed_) {
    write_failed_ = true;
    timer_.Start(0);
  }
}

void PeerConn::SendLast(std::string_view line) {
  owner_ = nullptr;
  if (state_ == State::kClosed) return;
  state_ = State::kLastLine;
  timer_.Stop();
  // Close at once if the line is already in the kernel (or could not be written), else once it has left.
  if (lines_.Write(line) != 0 || lines_.stream()->write_queue_bytes() == 0) Close();
}

void PeerConn::OnLinesDrained() {
  if (state_ == State::kLastLine) Close();
}

void PeerConn::Gone(End end, int status) {
  Owner* owner = owner_;
  Close();
  if (owner != nullptr) owner->OnPeerGone(this, end, status);
}

void PeerConn::Close() {
  owner_ = nullptr;
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  timer_.Stop();
  lines_.Close();
}

}  // namespace im::client
