#include "client/account_request.h"

namespace im::client {

AccountRequest::AccountRequest(uv_loop_t* loop, Owner& owner, std::string server_name, std::string line)
    : owner_(&owner), server_name_(std::move(server_name)), line_(std::move(line)) {
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
  uv_timer_init(loop, &timer_);
  timer_.data = this;
}

AccountRequest* AccountRequest::Start(uv_loop_t* loop, const sockaddr* server, const std::string& server_name,
                                      std::string line, Owner& owner, uint64_t timeout_ms) {
  auto* req = new AccountRequest(loop, owner, server_name, std::move(line));
  uv_timer_start(&req->timer_, OnTimeout, timeout_ms, 0);
  int rc = uv_tcp_connect(&req->connect_req_, &req->tcp_, server, OnConnect);
  if (rc != 0) {
    // Report it from the loop like any other failure: the timer fires at once.
    req->line_ = std::string("\0", 1) + uv_strerror(rc);
    uv_timer_start(&req->timer_, OnTimeout, 0, 0);
  }
  return req;
}

void AccountRequest::OnConnect(uv_connect_t* req, int status) noexcept {
  auto* self = static_cast<AccountRequest*>(req->handle->data);
  if (status == UV_ECANCELED || self->closing_) return;
  if (status != 0) {
    self->Finish({false, "", "cannot reach server " + self->server_name_ + ": " + uv_strerror(status)});
    return;
  }
  uv_buf_t buf = uv_buf_init(self->line_.data(), static_cast<unsigned>(self->line_.size()));
  int rc = uv_write(&self->write_req_, reinterpret_cast<uv_stream_t*>(&self->tcp_), &buf, 1, AfterWrite);
  if (rc == 0) {
    rc = uv_read_start(
        reinterpret_cast<uv_stream_t*>(&self->tcp_),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* s = static_cast<AccountRequest*>(h->data);
          *b = uv_buf_init(s->read_buf_, sizeof s->read_buf_);
        },
        OnRead);
  }
  if (rc != 0) self->Finish({false, "", "server " + self->server_name_ + ": " + uv_strerror(rc)});
}

void AccountRequest::AfterWrite(uv_write_t* req, int status) noexcept {
  auto* self = static_cast<AccountRequest*>(req->handle->data);
  if (status == UV_ECANCELED || self->closing_ || status == 0) return;
  self->Finish({false, "", "server " + self->server_name_ + ": " + uv_strerror(status)});
}

void AccountRequest::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<AccountRequest*>(stream->data);
  if (self->closing_) return;
  if (nread > 0) {
    self->in_.Append(std::string_view(buf->base, static_cast<size_t>(nread)));
    std::string line;
    auto r = self->in_.Next(&line);
    if (r == proto::LineBuffer::Result::kLine) {
      self->Finish({true, line, ""});
    } else if (r == proto::LineBuffer::Result::kTooLong) {
      self->Finish({false, "", "server " + self->server_name_ + " sent an over-long reply"});
    }
    return;
  }
  if (nread == 0) return;
  self->Finish({false, "", "server " + self->server_name_ + " closed the connection without a reply"});
}

void AccountRequest::OnTimeout(uv_timer_t* timer) noexcept {
  auto* self = static_cast<AccountRequest*>(timer->data);
  if (self->closing_) return;
  if (!self->line_.empty() && self->line_[0] == '\0') {  // connect failed synchronously
    self->Finish({false, "", "cannot reach server " + self->server_name_ + ": " + self->line_.substr(1)});
  } else {
    self->Finish({false, "", "server " + self->server_name_ + " did not answer in time"});
  }
}

void AccountRequest::Finish(Result result) {
  Owner* owner = owner_;
  Cancel();
  if (owner != nullptr) owner->OnAccountReply(result);
}

void AccountRequest::Cancel() {
  owner_ = nullptr;
  if (closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), OnClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), OnClose);
}

void AccountRequest::OnClose(uv_handle_t* handle) noexcept {
  auto* self = static_cast<AccountRequest*>(handle->data);
  if (--self->open_handles_ == 0) delete self;
}

}  // namespace im::client
