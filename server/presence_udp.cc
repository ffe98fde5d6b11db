#include "server/presence_udp.h"

#include "net/address.h"
#include "net/handle.h"
#include "net/log.h"

namespace im::server {
namespace {

struct SendReq {
  uv_udp_send_t req;
  std::string bytes;  // must live until AfterSend
};

}  // namespace

PresenceUdp::PresenceUdp(uv_loop_t* loop) {
  uv_udp_init_ex(loop, udp_.get(), AF_UNSPEC | UV_UDP_RECVMMSG);
  udp_->data = this;
}

int PresenceUdp::Start(const sockaddr* addr, int inherited_fd, PresenceService* service) {
  service_ = service;
  int rc = inherited_fd >= 0 ? uv_udp_open(udp_.get(), inherited_fd) : uv_udp_bind(udp_.get(), addr, 0);
  if (rc != 0) return rc;
  // A larger kernel buffer absorbs bursts of heartbeats; failure here is harmless.
  int size = 4 << 20;
  uv_recv_buffer_size(net::AsHandle(udp_.get()), &size);
  return uv_udp_recv_start(udp_.get(), OnAlloc, OnRecv);
}

int PresenceUdp::LocalPort() const {
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (udp_.closed() || uv_udp_getsockname(udp_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  return net::PortOf(reinterpret_cast<sockaddr*>(&addr));
}

void PresenceUdp::Close() { udp_.Close(); }

void PresenceUdp::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<PresenceUdp*>(handle->data);
  if (self == nullptr) {
    *buf = uv_buf_init(nullptr, 0);  // closed: libuv reports UV_ENOBUFS and stops
    return;
  }
  *buf = uv_buf_init(self->recv_buf_.get(), kRecvSlotBytes * kRecvBatch);
}

void PresenceUdp::OnRecv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                         unsigned flags) noexcept {
  auto* self = static_cast<PresenceUdp*>(udp->data);
  if (self == nullptr) return;  // closed
  if (nread < 0) {
    IM_LOG(kWarn, "udp receive: %s", uv_strerror(static_cast<int>(nread)));
    return;
  }
  // No address: nothing more to read this time (not an empty datagram), or the end of a
  // recvmmsg batch (UV_UDP_MMSG_FREE; the buffer is ours and reused).
  if (addr == nullptr) return;
  if (flags & UV_UDP_PARTIAL) {
    ++self->stats_.truncated;
    return;
  }
  self->service_->OnDatagram(std::string_view(buf->base, static_cast<size_t>(nread)), addr);
}

void PresenceUdp::SendReply(std::string_view bytes, const sockaddr* to) {
  if (udp_.closed()) return;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  int rc = uv_udp_try_send(udp_.get(), &buf, 1, to);
  if (rc >= 0) return;
  if (rc != UV_EAGAIN) {
    ++stats_.send_errors;
    IM_LOG(kDebug, "udp send: %s", uv_strerror(rc));
    return;
  }
  if (queued_sends_ >= kMaxQueuedSends) {
    ++stats_.send_dropped;
    return;
  }
  auto* req = new SendReq;
  req->bytes.assign(bytes);
  uv_buf_t copy = uv_buf_init(req->bytes.data(), static_cast<unsigned>(req->bytes.size()));
  if (uv_udp_send(&req->req, udp_.get(), &copy, 1, to, AfterSend) != 0) {
    delete req;  // the callback never runs when the call fails
    ++stats_.send_errors;
    return;
  }
  ++queued_sends_;
}

void PresenceUdp::AfterSend(uv_udp_send_t* req, int) noexcept {
  // A send cancelled by the close comes back before the close callback, when the socket's
  // data is already cleared and its owner may be gone: only a live socket's count is touched.
  auto* self = static_cast<PresenceUdp*>(req->handle->data);
  delete reinterpret_cast<SendReq*>(req);
  if (self != nullptr) --self->queued_sends_;
}

}  // namespace im::server
