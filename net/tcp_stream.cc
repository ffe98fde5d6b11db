#include "net/tcp_stream.h"

#include <cstring>
#include <string>

#include "net/handle.h"

namespace im::net {
namespace {

struct WriteReq {
  uv_write_t req;
  std::string bytes;  // must live until AfterWrite
};

// Every read of every stream lands here and is consumed inside the read callback.
char g_read_buffer[64 * 1024];

}  // namespace

TcpStream::TcpStream(uv_loop_t* loop) {
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
}

TcpStream* TcpStream::Accept(uv_stream_t* listener, Handler* handler) {
  auto* stream = new TcpStream(listener->loop);
  int rc = uv_accept(listener, AsStream(&stream->tcp_));
  int len = sizeof stream->peer_;
  if (rc == 0) rc = uv_tcp_getpeername(&stream->tcp_, reinterpret_cast<sockaddr*>(&stream->peer_), &len);
  if (rc != 0) {
    stream->Close();  // initialised, so it goes through uv_close like any handle
    return nullptr;
  }
  stream->SetHandler(handler);
  return stream;
}

TcpStream* TcpStream::Connect(uv_loop_t* loop, const sockaddr* to, Handler* handler) {
  auto* stream = new TcpStream(loop);
  stream->SetHandler(handler);
  std::memcpy(&stream->peer_, to, to->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  int rc = uv_tcp_connect(&stream->connect_req_, &stream->tcp_, to, OnConnect);
  if (rc != 0) {
    stream->connect_error_ = rc;
    stream->Close();
  } else {
    stream->connecting_ = true;
  }
  return stream;
}

void TcpStream::OnConnect(uv_connect_t* req, int status) noexcept {
  auto* self = static_cast<TcpStream*>(req->handle->data);
  self->connecting_ = false;
  if (status == UV_ECANCELED || self->closing_) return;
  if (status != 0) self->failed_ = true;
  if (self->handler_ != nullptr) self->handler_->OnStreamConnected(status);
}

int TcpStream::ReadStart() {
  if (closing_ || failed_) return UV_ECANCELED;
  int rc = uv_read_start(AsStream(&tcp_), OnAlloc, OnRead);
  return rc == UV_EALREADY ? 0 : rc;
}

void TcpStream::ReadStop() {
  if (!closing_) uv_read_stop(AsStream(&tcp_));
}

void TcpStream::OnAlloc(uv_handle_t*, size_t, uv_buf_t* buf) noexcept {
  *buf = uv_buf_init(g_read_buffer, sizeof g_read_buffer);
}

void TcpStream::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<TcpStream*>(stream->data);
  if (self->closing_ || self->handler_ == nullptr) return;
  if (nread > 0) {
    self->handler_->OnStreamRead(std::string_view(buf->base, static_cast<size_t>(nread)));
  } else if (nread == UV_EOF) {
    uv_read_stop(stream);
    self->handler_->OnStreamEof();
  } else if (nread < 0) {
    uv_read_stop(stream);
    self->Fail(static_cast<int>(nread));
  }  // 0 is EAGAIN: nothing happened
}

void TcpStream::Fail(int status) {
  if (failed_ || closing_) return;
  failed_ = true;
  if (handler_ != nullptr) handler_->OnStreamError(status);
}

int TcpStream::Write(std::string_view bytes) {
  if (closing_ || failed_) return UV_ECANCELED;
  if (bytes.empty()) return 0;
  auto* stream = AsStream(&tcp_);
  size_t done = 0;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  int written = uv_try_write(stream, &buf, 1);  // EAGAIN while earlier bytes are queued: order kept
  if (written == static_cast<int>(bytes.size())) return 0;
  if (written < 0 && written != UV_EAGAIN) return written;
  if (written > 0) done = static_cast<size_t>(written);
  auto* req = new WriteReq;
  req->bytes.assign(bytes.substr(done));
  req->req.data = this;
  uv_buf_t rest = uv_buf_init(req->bytes.data(), static_cast<unsigned>(req->bytes.size()));
  int rc = uv_write(&req->req, stream, &rest, 1, AfterWrite);
  if (rc != 0) delete req;  // the callback never runs when the call fails
  return rc;
}

void TcpStream::AfterWrite(uv_write_t* req, int status) noexcept {
  auto* self = static_cast<TcpStream*>(req->data);
  delete reinterpret_cast<WriteReq*>(req);  // req is WriteReq's first member
  if (status == UV_ECANCELED || self->closing_) return;
  if (status < 0) {
    self->Fail(status);
  } else if (self->write_queue_bytes() == 0 && self->handler_ != nullptr) {
    self->handler_->OnStreamDrained();
  }
}

size_t TcpStream::write_queue_bytes() const {
  return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_));
}

int TcpStream::Shutdown() {
  if (closing_ || failed_) return UV_ECANCELED;
  return uv_shutdown(&shutdown_req_, AsStream(&tcp_), AfterShutdown);
}

void TcpStream::AfterShutdown(uv_shutdown_t* req, int status) noexcept {
  auto* self = static_cast<TcpStream*>(req->handle->data);
  if (status == UV_ECANCELED || self->closing_) return;
  if (status < 0) self->Fail(status);
}

void TcpStream::SetNoDelay(bool on) { uv_tcp_nodelay(&tcp_, on ? 1 : 0); }

void TcpStream::Close() {
  if (closing_) return;
  closing_ = true;
  uv_close(AsHandle(&tcp_), OnClose);
}

void TcpStream::CloseReset() {
  if (closing_) return;
  closing_ = true;
  // uv_tcp_close_reset fails on a handle with a pending shutdown; close plainly then.
  if (uv_tcp_close_reset(&tcp_, OnClose) != 0) uv_close(AsHandle(&tcp_), OnClose);
}

void TcpStream::OnClose(uv_handle_t* handle) noexcept {
  auto* self = static_cast<TcpStream*>(handle->data);
  // The handler may abandon the stream from OnStreamConnected: look again before each call.
  if (self->connect_error_ != 0 && self->handler_ != nullptr) self->handler_->OnStreamConnected(self->connect_error_);
  if (self->handler_ != nullptr) self->handler_->OnStreamClosed();
  delete self;
}

int TcpStream::TakePendingError() {
  uv_os_fd_t fd;
  if (closing_ || uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) return 0;
  int error = 0;
  socklen_t len = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) return 0;
  return error == 0 ? 0 : uv_translate_sys_error(error);
}

}  // namespace im::net
