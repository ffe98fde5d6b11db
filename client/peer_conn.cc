#include "client/peer_conn.h"

#include <cstring>

#include "net/address.h"
#include "net/tcp_stream.h"
#include "proto/chat.h"

namespace im::client {

PeerConn::PeerConn(uv_loop_t* loop, Owner& owner, State state)
    : owner_(&owner),
      state_(state),
      lines_(proto::kMaxChatLineBytes, *this),
      timer_(loop, this, [](void* self) { static_cast<PeerConn*>(self)->OnTimer(); }) {}

PeerConn* PeerConn::Call(uv_loop_t* loop, Owner& owner, const sockaddr* addr, std::string_view me,
                         std::string peer, uint64_t timeout_ms) {
  auto* conn = new PeerConn(loop, owner, State::kConnecting);
  conn->peer_ = std::move(peer);
  std::memcpy(&conn->remote_, addr, net::AddressLength(addr));
  conn->hello_ = proto::FormatHello(me);
  // A connect that fails at once is still reported from the loop (OnLinesConnected).
  conn->lines_.Attach(net::TcpStream::Connect(loop, addr, nullptr));
  conn->timer_.Start(timeout_ms);
  return conn;
}

PeerConn* PeerConn::Answer(uv_loop_t* loop, Owner& owner, uv_stream_t* listener, uint64_t timeout_ms) {
  net::TcpStream* stream = net::TcpStream::Accept(listener, nullptr);
  if (stream == nullptr) return nullptr;
  auto* conn = new PeerConn(loop, owner, State::kAwaitingHello);
  conn->remote_ = stream->peer();
  conn->lines_.Attach(stream);
  if (conn->lines_.StartReading() != 0) {
    conn->Close();
    return nullptr;
  }
  conn->timer_.Start(timeout_ms);
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
      peer_ = std::move(chat.arg);
      state_ = State::kAwaitingAnswer;
      timer_.Stop();
      owner_->OnPeerHello(this, peer_);
      return;
    case State::kAwaitingOk:
      if (chat.kind == proto::ChatKind::kOk) {
        state_ = State::kOpen;
        timer_.Stop();
        owner_->OnPeerAccepted(this);
      } else {
        Gone(chat.kind == proto::ChatKind::kBusy ? End::kBusy : End::kNotAChatClient);
      }
      return;
    case State::kOpen:
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

void PeerConn::OnLineTooLong() { Gone(state_ == State::kAwaitingHello ? End::kNoHello : End::kTooLong); }

// The peer finished sending or the stream failed (a reset, a failed write).
void PeerConn::OnStreamOver() {
  switch (state_) {
    case State::kOpen: return Gone(End::kDisconnected);
    case State::kAwaitingOk: return Gone(End::kHungUp);
    case State::kLastLine: return Close();  // nobody left to tell
    default: return Gone(End::kNoHello);   // a caller that left before saying who it was
  }
}

void PeerConn::OnTimer() {
  if (write_failed_) return Gone(End::kDisconnected);
  switch (state_) {
    case State::kConnecting:
    case State::kAwaitingOk: return Gone(End::kNoAnswer);
    default: return Gone(End::kNoHello);  // a caller that never said HELLO
  }
}

void PeerConn::Accept(Owner& owner) {
  owner_ = &owner;
  state_ = State::kOpen;
  Send(proto::kChatOk);
}

void PeerConn::Refuse() { SendLast(proto::kChatBusy); }

void PeerConn::SendMessage(std::string_view text) {
  if (state_ == State::kOpen) Send(proto::FormatMessage(text));
}

void PeerConn::Leave() {
  if (state_ == State::kOpen) return SendLast(proto::kChatBye);
  Close();
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
