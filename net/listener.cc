#include "net/listener.h"

#include "net/address.h"
#include "net/log.h"

namespace im::net {
namespace {
constexpr int kListenBacklog = 511;
}

Listener::Listener(uv_loop_t* loop, Owner& owner) : owner_(owner) {
  uv_tcp_init(loop, tcp_.get());
  tcp_->data = this;
}

bool Listener::Listen(const sockaddr* addr, int inherited_fd, std::string* error) {
  // EADDRINUSE may only surface at listen time (libuv defers bind errors).
  int rc = inherited_fd >= 0 ? uv_tcp_open(tcp_.get(), inherited_fd) : uv_tcp_bind(tcp_.get(), addr, 0);
  if (rc == 0) rc = uv_listen(stream(), kListenBacklog, OnConnection);
  if (rc != 0) {
    *error = "listen tcp " + (inherited_fd >= 0 ? "fd " + std::to_string(inherited_fd) : FormatAddress(addr)) +
             ": " + uv_strerror(rc);
    return false;
  }
  return true;
}

int Listener::LocalPort() const {
  sockaddr_storage bound{};
  int len = sizeof bound;
  if (closed() || uv_tcp_getsockname(tcp_.get(), reinterpret_cast<sockaddr*>(&bound), &len) != 0) return -1;
  return PortOf(reinterpret_cast<sockaddr*>(&bound));
}

void Listener::OnConnection(uv_stream_t* server, int status) noexcept {
  auto* self = static_cast<Listener*>(server->data);
  if (self == nullptr) return;  // closed
  if (status < 0) {
    // EMFILE/ENFILE: libuv has already shed the connection with its reserve descriptor,
    // so the loop does not spin; say so once in a while.
    if (self->accept_errors_++ % 1000 == 0) {
      IM_LOG(kWarn, "tcp accept: %s (%llu so far)", uv_strerror(status),
             static_cast<unsigned long long>(self->accept_errors_));
    }
    return;
  }
  self->paused_ = false;
  self->owner_.OnIncoming();
}

void Listener::Resume() {
  if (!paused_ || closed()) return;
  paused_ = false;
  owner_.OnIncoming();
}

void Listener::Close() { tcp_.Close(); }

}  // namespace im::net
