#include "lb/splice.h"

#include <string>

#include "lb/balancer.h"
#include "lb/lb_log.h"
#include "proto/request.h"

namespace im::lb {
namespace {

constexpr uint64_t kRejectLingerMs = 1000;

struct WriteReq {
  uv_write_t req;
  std::string bytes;  // the part of a read dst could not take at once
};

template <typename T>
uv_handle_t* AsHandle(T* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}
template <typename T>
uv_stream_t* AsStream(T* h) {
  return reinterpret_cast<uv_stream_t*>(h);
}

}  // namespace

Splice::Splice(Balancer& balancer, uint64_t id)
    : balancer_(balancer), id_(id), tried_(balancer.pool().size(), false) {
  uv_tcp_init(balancer_.loop(), &client_);
  client_.data = this;
  uv_timer_init(balancer_.loop(), &timer_);
  timer_.data = this;
  open_handles_ = 2;
  up_.src = AsStream(&client_);
  up_.dst = AsStream(&backend_);
  down_.src = AsStream(&backend_);
  down_.dst = AsStream(&client_);
  last_active_ms_ = uv_now(balancer_.loop());
}

Splice* Splice::Accept(Balancer& balancer, uv_stream_t* listener, uint64_t id) {
  auto* splice = new Splice(balancer, id);
  int rc = uv_accept(listener, AsStream(&splice->client_));
  if (rc != 0) {
    LbLog("accept: %s", uv_strerror(rc));
    splice->Close();  // both handles are initialised: they go through uv_close
    return nullptr;
  }
  uv_tcp_nodelay(&splice->client_, 1);
  splice->ConnectNext();
  return splice;
}

void Splice::ConnectNext() {
  bool first = backend_index_ < 0;
  int index = balancer_.pool().Pick(tried_);
  if (index < 0) {
    Reject();
    return;
  }
  backend_index_ = index;
  if (first) {
    LB_CONN_LOG("New client -> backend #%d", index);
  } else {
    LB_CONN_LOG("Retrying client -> backend #%d", index);
  }
  state_ = State::kConnecting;
  uv_tcp_init(balancer_.loop(), &backend_);
  backend_.data = this;
  backend_open_ = true;
  ++open_handles_;
  const sockaddr* addr = reinterpret_cast<const sockaddr*>(&balancer_.pool().at(index).addr);
  int rc = uv_tcp_connect(&connect_req_, &backend_, addr, OnConnect);
  if (rc != 0) {
    ConnectFailed(rc);  // the callback will not run
    return;
  }
  uv_timer_start(&timer_, OnConnectTimeout, balancer_.options().connect_timeout_ms, 0);
}

void Splice::OnConnect(uv_connect_t* req, int status) noexcept {
  auto* self = static_cast<Splice*>(req->handle->data);
  if (status == UV_ECANCELED || self->state_ != State::kConnecting) return;  // closing
  uv_timer_stop(&self->timer_);
  if (status != 0) {
    self->ConnectFailed(status);
    return;
  }
  self->StartSplicing();
}

void Splice::OnConnectTimeout(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Splice*>(timer->data);
  if (self->state_ == State::kConnecting) self->ConnectFailed(UV_ETIMEDOUT);
}

void Splice::ConnectFailed(int err) {
  balancer_.ReportDown(backend_index_, err);
  tried_[static_cast<size_t>(backend_index_)] = true;
  state_ = State::kRetrying;
  uv_timer_stop(&timer_);
  // A handle cannot connect twice: close it, and try the next backend once it is closed.
  backend_open_ = false;
  uv_close(AsHandle(&backend_), OnRetryClose);
}

void Splice::OnRetryClose(uv_handle_t* handle) noexcept {
  auto* self = static_cast<Splice*>(handle->data);
  --self->open_handles_;
  if (self->state_ == State::kClosing) {
    if (self->open_handles_ == 0) {
      self->balancer_.OnSpliceClosed(self);
      delete self;
    }
    return;
  }
  self->ConnectNext();
}

void Splice::StartSplicing() {
  state_ = State::kSplicing;
  LB_CONN_LOG("Client connected to backend: %s", balancer_.pool().at(backend_index_).name.c_str());
  uv_tcp_nodelay(&backend_, 1);
  last_active_ms_ = uv_now(balancer_.loop());
  int rc = uv_read_start(AsStream(&client_), OnAlloc, OnRead);
  if (rc == 0) rc = uv_read_start(AsStream(&backend_), OnAlloc, OnRead);
  if (rc != 0) Close();
}

void Splice::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  *buf = static_cast<Splice*>(handle->data)->balancer_.read_buffer();
}

void Splice::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<Splice*>(stream->data);
  if (self->state_ != State::kSplicing) return;
  Flow& flow = self->FlowFrom(stream);
  if (nread > 0) {
    self->last_active_ms_ = uv_now(self->balancer_.loop());
    self->Forward(flow, buf->base, static_cast<size_t>(nread));
    return;
  }
  if (nread == 0) return;  // EAGAIN
  flow.eof = true;
  flow.failed = nread != UV_EOF;
  uv_read_stop(stream);
  if (!flow.write_pending) self->EndFlow(flow);
}

void Splice::Forward(Flow& flow, const char* data, size_t len) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data), static_cast<unsigned>(len));
  int written = uv_try_write(flow.dst, &buf, 1);
  if (written == static_cast<int>(len)) return;
  if (written < 0 && written != UV_EAGAIN) {
    Close();
    return;
  }
  size_t done = written > 0 ? static_cast<size_t>(written) : 0;
  // The rest waits in one request; reading the source stops until it is written.
  auto* req = new WriteReq;
  req->bytes.assign(data + done, len - done);
  req->req.data = &flow;
  uv_buf_t rest = uv_buf_init(req->bytes.data(), static_cast<unsigned>(req->bytes.size()));
  int rc = uv_write(&req->req, flow.dst, &rest, 1, AfterWrite);
  if (rc != 0) {
    delete req;
    Close();
    return;
  }
  flow.write_pending = true;
  uv_read_stop(flow.src);
}

void Splice::AfterWrite(uv_write_t* req, int status) noexcept {
  auto* flow = static_cast<Flow*>(req->data);
  auto* self = static_cast<Splice*>(req->handle->data);
  delete reinterpret_cast<WriteReq*>(req);
  if (status == UV_ECANCELED || self->state_ != State::kSplicing) return;
  flow->write_pending = false;
  if (status < 0) {
    self->Close();
    return;
  }
  if (flow->eof) {
    self->EndFlow(*flow);
    return;
  }
  if (uv_read_start(flow->src, OnAlloc, OnRead) != 0) self->Close();
}

// The source has ended and everything it sent is written: pass the end on.
void Splice::EndFlow(Flow& flow) {
  if (flow.failed) {
    Close();
    return;
  }
  int rc = uv_shutdown(&flow.shutdown_req, flow.dst, AfterShutdown);
  if (rc != 0) Close();
}

void Splice::AfterShutdown(uv_shutdown_t* req, int status) noexcept {
  auto* self = static_cast<Splice*>(req->handle->data);
  if (status == UV_ECANCELED || self->state_ != State::kSplicing) return;
  if (status < 0) {
    self->Close();
    return;
  }
  Flow& flow = req == &self->up_.shutdown_req ? self->up_ : self->down_;
  flow.shut = true;
  if (self->up_.shut && self->down_.shut) self->Close();
}

// No backend can take this client: say so in one line, then linger until the client has
// closed (or a second has passed), so the reply is not lost to a reset caused by the
// request bytes we never read.
void Splice::Reject() {
  state_ = State::kRejecting;
  balancer_.CountRejected();
  LB_CONN_LOG("No backend available: client rejected");
  std::string_view line = proto::ReplyLine(proto::Reply::kNoBackend);
  uv_buf_t buf = uv_buf_init(const_cast<char*>(line.data()), static_cast<unsigned>(line.size()));
  reject_req_.data = this;
  int rc = uv_write(&reject_req_, AsStream(&client_), &buf, 1, AfterRejectWrite);
  if (rc == 0) rc = uv_read_start(AsStream(&client_), OnAlloc, OnRejectRead);
  if (rc != 0) {
    Close();
    return;
  }
  uv_timer_start(&timer_, OnLingerTimeout, kRejectLingerMs, 0);
}

void Splice::AfterRejectWrite(uv_write_t* req, int status) noexcept {
  auto* self = static_cast<Splice*>(req->data);
  if (status == UV_ECANCELED || self->state_ != State::kRejecting) return;
  if (status < 0 || uv_shutdown(&self->up_.shutdown_req, AsStream(&self->client_),
                                [](uv_shutdown_t*, int) {}) != 0) {
    self->Close();
  }
}

void Splice::OnRejectRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) noexcept {
  auto* self = static_cast<Splice*>(stream->data);
  if (nread < 0) self->Close();  // the client has closed: the 503 was delivered
}

void Splice::OnLingerTimeout(uv_timer_t* timer) noexcept {
  static_cast<Splice*>(timer->data)->Close();
}

void Splice::Close() noexcept {
  if (state_ == State::kClosing) return;
  bool was_splicing = state_ == State::kSplicing;
  state_ = State::kClosing;
  if (was_splicing) LB_CONN_LOG("Connection closed");
  CloseHandle(AsHandle(&client_));
  CloseHandle(AsHandle(&timer_));
  if (backend_open_) {
    backend_open_ = false;
    CloseHandle(AsHandle(&backend_));
  }
}

void Splice::CloseHandle(uv_handle_t* handle) {
  if (!uv_is_closing(handle)) uv_close(handle, OnClose);
}

void Splice::OnClose(uv_handle_t* handle) noexcept {
  auto* self = static_cast<Splice*>(handle->data);
  if (--self->open_handles_ > 0) return;
  self->balancer_.OnSpliceClosed(self);
  delete self;
}

}  // namespace im::lb
