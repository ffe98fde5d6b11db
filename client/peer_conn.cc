#include "client/peer_conn.h"

namespace im::client {
namespace {

struct WriteReq {
  uv_write_t req;
  std::string bytes;
  bool close_after;
};

}  // namespace

PeerConn::PeerConn(uv_loop_t* loop, Owner& owner, uint64_t timeout_ms)
    : owner_(&owner), state_(State::kConnecting), timeout_ms_(timeout_ms) {
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
  uv_timer_init(loop, &timer_);
  timer_.data = this;
}

PeerConn* PeerConn::Call(uv_loop_t* loop, Owner& owner, const sockaddr* addr, const std::string& me,
                         const std::string& peer, uint64_t timeout_ms) {
  auto* conn = new PeerConn(loop, owner, timeout_ms);
  conn->peer_ = peer;
  conn->hello_ = proto::FormatHello(me);
  uv_timer_start(&conn->timer_, OnTimeout, timeout_ms, 0);
  int rc = uv_tcp_connect(&conn->connect_req_, &conn->tcp_, addr, OnConnect);
  if (rc != 0) {
    conn->hello_ = std::string("\0", 1) + uv_strerror(rc);  // reported from the timer
    uv_timer_start(&conn->timer_, OnTimeout, 0, 0);
  }
  return conn;
}

PeerConn* PeerConn::Answer(uv_loop_t* loop, Owner& owner, uv_stream_t* listener, uint64_t timeout_ms) {
  auto* conn = new PeerConn(loop, owner, timeout_ms);
  conn->state_ = State::kAwaitingHello;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&conn->tcp_)) != 0 || conn->StartReading() != 0) {
    conn->Close();
    return nullptr;
  }
  uv_timer_start(&conn->timer_, OnTimeout, timeout_ms, 0);
  return conn;
}

int PeerConn::StartReading() {
  return uv_read_start(
      reinterpret_cast<uv_stream_t*>(&tcp_),
      [](uv_handle_t* h, size_t, uv_buf_t* b) {
        auto* self = static_cast<PeerConn*>(h->data);
        *b = uv_buf_init(self->read_buf_, sizeof self->read_buf_);
      },
      OnRead);
}

void PeerConn::OnConnect(uv_connect_t* req, int status) noexcept {
  auto* self = static_cast<PeerConn*>(req->handle->data);
  if (status == UV_ECANCELED || self->state_ == State::kClosing) return;
  if (status != 0) {
    self->Gone(std::string("cannot reach ") + self->peer_ + ": " + uv_strerror(status));
    return;
  }
  self->state_ = State::kAwaitingOk;
  if (self->StartReading() != 0) {
    self->Gone("cannot read from " + self->peer_);
    return;
  }
  self->Write(self->hello_, false);
}

void PeerConn::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<PeerConn*>(stream->data);
  if (self->state_ == State::kClosing) return;
  if (nread > 0) {
    self->in_.Append(std::string_view(buf->base, static_cast<size_t>(nread)));
    std::string line;
    for (;;) {
      auto r = self->in_.Next(&line);
      if (r == proto::LineBuffer::Result::kNeedMore) return;
      if (r == proto::LineBuffer::Result::kTooLong) {
        self->Gone("chat ended: " + (self->peer_.empty() ? std::string("caller") : self->peer_) +
                   " sent an over-long line");
        return;
      }
      self->OnLine(line);
      if (self->state_ == State::kClosing) return;
    }
  }
  if (nread == 0) return;
  std::string who = self->peer_.empty() ? "the caller" : self->peer_;
  switch (self->state_) {
    case State::kOpen: self->Gone("chat ended: " + who + " disconnected"); break;
    case State::kAwaitingOk: self->Gone(who + " hung up before answering"); break;
    default: self->Gone(""); break;  // a caller that left before saying who it was
  }
}

void PeerConn::OnLine(const std::string& line) {
  proto::ChatLine chat = proto::ParseChatLine(line);
  switch (state_) {
    case State::kAwaitingHello:
      if (chat.kind != proto::ChatKind::kHello) {
        Gone("");  // not one of ours: drop it quietly
        return;
      }
      peer_ = chat.arg;
      state_ = State::kAwaitingAnswer;
      uv_timer_stop(&timer_);
      owner_->OnPeerHello(this, peer_);
      return;
    case State::kAwaitingOk:
      if (chat.kind == proto::ChatKind::kOk) {
        state_ = State::kOpen;
        uv_timer_stop(&timer_);
        owner_->OnPeerAccepted(this);
      } else if (chat.kind == proto::ChatKind::kBusy) {
        Gone(peer_ + " is busy in another chat");
      } else {
        Gone(peer_ + " answered something that is not a chat client");
      }
      return;
    case State::kOpen:
      if (chat.kind == proto::ChatKind::kMessage) {
        owner_->OnPeerMessage(this, chat.arg);
      } else if (chat.kind == proto::ChatKind::kBye) {
        Gone(peer_ + " left the chat");
      }  // anything else is ignored: a newer peer may say more
      return;
    default:
      return;
  }
}

void PeerConn::OnTimeout(uv_timer_t* timer) noexcept {
  auto* self = static_cast<PeerConn*>(timer->data);
  if (self->state_ == State::kClosing) return;
  if (!self->hello_.empty() && self->hello_[0] == '\0') {
    self->Gone("cannot reach " + self->peer_ + ": " + self->hello_.substr(1));
  } else if (self->state_ == State::kConnecting || self->state_ == State::kAwaitingOk) {
    self->Gone(self->peer_ + " did not answer (timeout)");
  } else {
    self->Gone("");  // a caller that never said HELLO
  }
}

void PeerConn::Accept() {
  state_ = State::kOpen;
  Write(std::string(proto::kChatOk), false);
}

void PeerConn::Refuse() {
  owner_ = nullptr;
  Write(std::string(proto::kChatBusy), true);
}

void PeerConn::SendMessage(const std::string& text) {
  if (state_ == State::kOpen) Write(proto::FormatMessage(text), false);
}

void PeerConn::Leave() {
  owner_ = nullptr;
  if (state_ == State::kOpen) {
    Write(std::string(proto::kChatBye), true);
  } else {
    Close();
  }
}

void PeerConn::Write(std::string bytes, bool close_after) {
  auto* req = new WriteReq{{}, std::move(bytes), close_after};
  req->req.data = this;
  uv_buf_t buf = uv_buf_init(req->bytes.data(), static_cast<unsigned>(req->bytes.size()));
  int rc = uv_write(&req->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, [](uv_write_t* r, int status) {
    auto* w = reinterpret_cast<WriteReq*>(r);
    auto* self = static_cast<PeerConn*>(r->data);
    bool close_after = w->close_after;
    delete w;
    if (status == UV_ECANCELED) return;
    if (close_after || status < 0) {
      if (status < 0 && self->state_ != State::kClosing) {
        self->Gone("chat ended: " + self->peer_ + " disconnected");
      } else {
        self->Close();
      }
    }
  });
  if (rc != 0) {
    delete req;
    Gone("chat ended: " + peer_ + " disconnected");
  }
}

void PeerConn::Gone(const std::string& reason) {
  Owner* owner = owner_;
  Close();
  if (owner != nullptr) owner->OnPeerGone(this, reason);
}

void PeerConn::Close() {
  owner_ = nullptr;
  if (state_ == State::kClosing) return;
  state_ = State::kClosing;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), OnClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnClose);
}

void PeerConn::OnClose(uv_handle_t* handle) noexcept {
  auto* self = static_cast<PeerConn*>(handle->data);
  if (--self->open_handles_ == 0) delete self;
}

}  // namespace im::client
