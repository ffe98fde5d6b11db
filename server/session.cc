#include "server/session.h"

#include <algorithm>

#include "server/log.h"
#include "server/server.h"

namespace im::server {
namespace {

// The most bytes a request can take: the longest line plus "\r\n". Bytes past it are
// never buffered, whatever the client sends.
constexpr size_t kMaxRequestBytes = proto::kMaxLineBytes + 2;

struct WriteReq {
  uv_write_t req;
  std::string bytes;  // must live until AfterWrite
};

}  // namespace

Session::Session(Server& server, uint64_t id)
    : server_(server), id_(id), accepted_ms_(uv_now(server.loop())) {
  uv_tcp_init(server.loop(), &tcp_);
  tcp_.data = this;
}

Session* Session::Accept(Server& server, uv_stream_t* listener, uint64_t id) {
  auto* session = new Session(server, id);
  int rc = uv_accept(listener, reinterpret_cast<uv_stream_t*>(&session->tcp_));
  if (rc == 0) rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&session->tcp_), OnAlloc, OnRead);
  if (rc != 0) {
    IM_LOG(kWarn, "tcp accept: %s", uv_strerror(rc));
    // The handle is initialised, so it must go through uv_close like any other.
    session->state_ = State::kClosing;
    uv_close(reinterpret_cast<uv_handle_t*>(&session->tcp_),
             [](uv_handle_t* h) { delete static_cast<Session*>(h->data); });
    return nullptr;
  }
  // No TCP_NODELAY: the reply is one write on an idle connection, which Nagle never
  // delays, and the setsockopt would be one more system call per request.
  return session;
}

void Session::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<Session*>(handle->data);
  // Reads land in the server's shared scratch buffer (reads are synchronous on the loop);
  // OnRead copies at most kMaxRequestBytes of them.
  *buf = self->server_.read_buffer();
}

void Session::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<Session*>(stream->data);
  if (self->state_ != State::kReading) return;
  if (nread > 0) {
    size_t take = std::min(static_cast<size_t>(nread), kMaxRequestBytes - self->bytes_in_);
    self->in_.Append(std::string_view(buf->base, take));
    self->bytes_in_ += take;
    std::string line;
    switch (self->in_.Next(&line)) {
      case proto::LineBuffer::Result::kLine:
        self->OnLine(line);
        return;
      case proto::LineBuffer::Result::kTooLong:
        uv_read_stop(stream);
        self->request_line_ = "(over-long line)";
        self->SendReply(proto::Reply::kBadRequest);
        return;
      case proto::LineBuffer::Result::kNeedMore:
        return;
    }
    return;
  }
  if (nread == 0) return;  // EAGAIN, not EOF
  if (nread == UV_EOF && !self->in_.Pending().empty()) {
    // A last line without '\n' followed by the client's half-close: still a request.
    std::string line(proto::StripLineEnd(self->in_.Pending()));
    self->OnLine(line);
    return;
  }
  // EOF with nothing sent, or a reset: nobody to answer.
  self->Close();
}

void Session::OnLine(std::string_view line) {
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  if (LogEnabled(LogLevel::kInfo)) request_line_.assign(line);
  auto parsed = proto::ParseRequest(line);
  if (auto* reply = std::get_if<proto::Reply>(&parsed)) {
    SendReply(*reply);
    return;
  }
  state_ = State::kWaitingStore;
  server_.SubmitRequest(id_, std::move(std::get<proto::Request>(parsed)));
}

void Session::SendReply(proto::Reply reply) {
  if (state_ == State::kClosing || state_ == State::kReplying) return;
  state_ = State::kReplying;
  std::string_view line = proto::ReplyLine(reply);
  if (LogEnabled(LogLevel::kInfo)) {
    std::string shown;  // never echo control bytes into the log
    for (char c : request_line_.substr(0, 64)) shown += (c < 0x20 || c == 0x7f) ? '?' : c;
    IM_LOG(kInfo, "tcp %s \"%s\" -> %.*s", PeerName().c_str(), shown.c_str(),
           static_cast<int>(line.size() - 1), line.data());
  }
  // The reply is a few bytes on a fresh socket: it nearly always goes out at once.
  uv_buf_t buf = uv_buf_init(const_cast<char*>(line.data()), static_cast<unsigned>(line.size()));
  int written = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1);
  if (written == static_cast<int>(line.size())) {
    Close();
    return;
  }
  if (written < 0 && written != UV_EAGAIN) {
    Close();  // the client is gone
    return;
  }
  auto* req = new WriteReq;
  req->bytes.assign(line.substr(written > 0 ? static_cast<size_t>(written) : 0));
  req->req.data = this;
  uv_buf_t rest = uv_buf_init(req->bytes.data(), static_cast<unsigned>(req->bytes.size()));
  int rc = uv_write(&req->req, reinterpret_cast<uv_stream_t*>(&tcp_), &rest, 1, AfterWrite);
  if (rc != 0) {
    delete req;  // the callback never runs when the call fails
    Close();
  }
}

void Session::AfterWrite(uv_write_t* req, int status) noexcept {
  auto* self = static_cast<Session*>(req->data);
  delete reinterpret_cast<WriteReq*>(req);  // req is WriteReq's first member
  if (status == UV_ECANCELED) return;       // closing already
  self->Close();
}

void Session::Close() noexcept {
  if (state_ == State::kClosing) return;
  state_ = State::kClosing;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), OnClose);
}

void Session::OnClose(uv_handle_t* handle) noexcept {
  auto* self = static_cast<Session*>(handle->data);
  self->server_.OnSessionClosed(self);
  delete self;
}

std::string Session::PeerName() const {
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char ip[64] = "?";
  int port = 0;
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    uv_ip4_name(a, ip, sizeof ip);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    uv_ip6_name(a, ip, sizeof ip);
    port = ntohs(a->sin6_port);
  }
  return std::string(ip) + ":" + std::to_string(port);
}

}  // namespace im::server
