#include "client/presence.h"

#include <cstring>

#include "client/buddy_list.h"
#include "net/address.h"
#include "net/handle.h"

namespace im::client {

Presence::Presence(uv_loop_t* loop, Owner& owner, const sockaddr* server, std::string me, uint64_t interval_ms,
                   std::string chat_key, Session* session)
    : loop_(loop),
      owner_(owner),
      me_(std::move(me)),
      chat_key_(std::move(chat_key)),
      interval_ms_(interval_ms),
      timer_(loop, this, [](void* self) { static_cast<Presence*>(self)->OnTimer(); }),
      session_(session) {
  std::memcpy(&server_, server, server->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  uv_udp_init(loop_, &udp_);
  udp_.data = this;
}

int Presence::Start(uint16_t msg_port) {
  msg_port_ = msg_port;
  // A connected socket: the kernel drops datagrams from any address but the server's,
  // so nobody else can hand us a buddy list (or, later, a cookie).
  int rc = uv_udp_connect(&udp_, reinterpret_cast<const sockaddr*>(&server_));
  if (rc == 0) {
    rc = uv_udp_recv_start(
        &udp_,
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* self = static_cast<Presence*>(h->data);
          *b = uv_buf_init(self->recv_buf_, sizeof self->recv_buf_);
        },
        OnRecv);
  }
  if (rc != 0) return rc;
  started_ = true;
  timer_.Start(0, interval_ms_);  // the first SET goes out at once
  return 0;
}

void Presence::OnTimer() {
  SendSet(true, msg_port_);
  SendGet();
}

void Presence::AskNow() {
  if (started_) SendGet();
}

void Presence::SendOffline() {
  if (started_) SendSet(false, 0);
}

void Presence::SendSet(bool online, uint16_t port) {
  last_online_ = online;
  last_port_ = port;
  set_resendable_ = true;
  Send(proto::FormatSet(me_, online, port, cookie_, online ? std::string_view(chat_key_) : std::string_view()));
}

void Presence::SendGet() {
  get_resendable_ = true;
  Send(proto::FormatGet(me_, cookie_, /*with_keys=*/true));
}

void Presence::Send(const std::string& unsigned_datagram) {
  // Each send gets a fresh proof (a new counter), so a resend is never a replay.
  std::string datagram = session_ ? session_->ProveDatagram(unsigned_datagram, WallClockMs()) : unsigned_datagram;
  // A datagram this small goes out at once or not at all; a lost one is repaired by the
  // next interval, so nothing is queued.
  uv_buf_t buf = uv_buf_init(datagram.data(), static_cast<unsigned>(datagram.size()));
  uv_udp_try_send(&udp_, &buf, 1, nullptr);  // to the connected server
}

void Presence::OnRecv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                      unsigned flags) noexcept {
  auto* self = static_cast<Presence*>(udp->data);
  if (nread < 0 || addr == nullptr || (flags & UV_UDP_PARTIAL)) return;
  // Connected, so only the server's address gets here; checked again in case of a kernel
  // that delivers what was queued before the connect.
  if (!net::SameAddress(addr, reinterpret_cast<const sockaddr*>(&self->server_))) return;
  self->OnReply(std::string_view(buf->base, static_cast<size_t>(nread)));
}

void Presence::OnReply(std::string_view datagram) {
  proto::GetReply reply = proto::ParseGetReply(datagram);
  if (reply.kind == proto::GetReply::Kind::kCookie) return OnCookie(reply.cookie);
  if (reply.kind == proto::GetReply::Kind::kUnauthorized) {
    if (!unauthorized_) owner_.OnPresenceUnauthorized();
    unauthorized_ = true;
    return;
  }
  if (reply.kind != proto::GetReply::Kind::kBuddies) return;  // errors: ask again next time
  if (!IsAcceptableBuddyList(reply.buddies)) return;          // the whole reply, not just a line
  for (const auto& now : reply.buddies) {
    const proto::BuddyStatus* before = Find(now.id);
    bool changed = before == nullptr
                       ? now.online  // a new buddy is news only if online
                       : before->online != now.online ||
                             (now.online && (before->ip != now.ip || before->msg_port != now.msg_port ||
                                             before->chat_key != now.chat_key));
    if (changed) owner_.OnBuddyChanged(now);
  }
  buddies_ = std::move(reply.buddies);
  have_list_ = true;
  unauthorized_ = false;
}

// The COOKIE may answer the SET or the GET (or both, each its own answer): resend what
// has not been resent yet, with the cookie.
void Presence::OnCookie(const std::string& cookie) {
  cookie_ = cookie;
  if (set_resendable_) {
    SendSet(last_online_, last_port_);
    set_resendable_ = false;
  }
  if (get_resendable_) {
    SendGet();
    get_resendable_ = false;
  }
}

void Presence::Forget(const std::string& id) {
  std::erase_if(buddies_, [&](const proto::BuddyStatus& b) { return b.id == id; });
}

const proto::BuddyStatus* Presence::Find(const std::string& id) const {
  for (const auto& b : buddies_) {
    if (b.id == id) return &b;
  }
  return nullptr;
}

void Presence::Close() {
  if (uv_is_closing(net::AsHandle(&udp_))) return;
  uv_close(net::AsHandle(&udp_), nullptr);  // a member of a long-lived object
  timer_.Stop();  // its handle closes with the Timer
}

}  // namespace im::client
