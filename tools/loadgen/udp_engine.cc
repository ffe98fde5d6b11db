#include "tools/loadgen/udp_engine.h"

#include <string>

#include "net/address.h"
#include "proto/presence.h"
#include "tools/loadgen/proven_accounts.h"

namespace im::loadgen {
namespace {

// Holds the largest datagram.
constexpr size_t kRecvBufferBytes = 65536;
static_assert(kRecvBufferBytes >= proto::kMaxDatagramBytes);

// `datagram` with " c=<cookie>" before its "\n" (the scenarios format them without).
std::string WithCookie(const std::string& datagram, const std::string& cookie) {
  if (cookie.empty()) return datagram;
  std::string out = datagram;
  size_t at = !out.empty() && out.back() == '\n' ? out.size() - 1 : out.size();
  out.insert(at, " c=" + cookie);
  return out;
}

}  // namespace

UdpEngine::UdpEngine(const sockaddr_storage& target) : target_(target), recv_buf_(new char[kRecvBufferBytes]) {}

int UdpEngine::Bind(Slot& s) {
  // A loopback address of the target's family. IPv4 slots spread over 127.0.0.1-254, as
  // clients on many hosts would: the server answers each source address's cookie
  // requests and first datagrams within a per-address budget (PresenceService, a burst of
  // 40), and 128 slots behind one address would wait seconds for their cookies, measuring
  // that wait rather than the server. ::1 is the only IPv6 loopback address.
  sockaddr_storage local{};
  std::string ip = target_.ss_family == AF_INET6 ? "::1" : "127.0.0." + std::to_string(1 + s.index % 254);
  if (!net::ParseIp(ip, 0, &local)) return UV_EINVAL;
  int rc = uv_udp_bind(&s.udp, reinterpret_cast<const sockaddr*>(&local), 0);
  if (rc == 0) rc = uv_udp_recv_start(&s.udp, OnAlloc, OnRecv);
  if (rc == 0) {
    // Ask for the cookie at once; its answer usually arrives before the first reply.
    std::string ask = proto::FormatCookieRequest();
    uv_buf_t buf = uv_buf_init(ask.data(), static_cast<unsigned>(ask.size()));
    uv_udp_try_send(&s.udp, &buf, 1, reinterpret_cast<const sockaddr*>(&target_));  // lost: a COOKIE answer later
  }
  return rc;
}

UdpEngine::Sent UdpEngine::Send(Slot& s, std::string* error) {
  if (!s.udp_bound) {
    s.udp_engine = this;  // for OnAlloc and OnRecv, which get the slot
    if (int rc = Bind(s); rc != 0) {
      *error = std::string("udp bind: ") + uv_err_name(rc);
      return Sent::kFailed;
    }
    s.udp_bound = true;
  }
  s.cookie_resent = false;
  return SendDatagrams(s, error, /*with_pre=*/true);
}

UdpEngine::Sent UdpEngine::SendDatagrams(Slot& s, std::string* error, bool with_pre) {
  const auto* to = reinterpret_cast<const sockaddr*>(&target_);
  size_t index = 0;
  auto send = [&](const std::string& datagram) {
    std::string d = WithCookie(datagram, s.cookie);
    if (s.request.prover && index < s.request.signed_as.size()) d = s.request.prover->Prove(s.request.signed_as[index], d);
    ++index;
    uv_buf_t buf = uv_buf_init(d.data(), static_cast<unsigned>(d.size()));
    int rc = uv_udp_try_send(&s.udp, &buf, 1, to);
    if (rc < 0) *error = std::string("udp send: ") + uv_err_name(rc);
    return rc >= 0;
  };
  for (const std::string& d : s.request.pre_datagrams) {
    if (!with_pre) {
      ++index;
      continue;
    }
    if (!send(d)) return Sent::kFailed;
  }
  if (!send(s.request.bytes)) return Sent::kFailed;
  if (!s.request.expect_reply) return Sent::kNoReply;
  s.awaiting_udp = true;
  return Sent::kAwaitingReply;
}

void UdpEngine::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* b) noexcept {
  auto* s = static_cast<Slot*>(h->data);
  *b = uv_buf_init(s->udp_engine->recv_buf_.get(), kRecvBufferBytes);
}

void UdpEngine::OnRecv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                       unsigned flags) noexcept {
  auto* s = static_cast<Slot*>(udp->data);
  if (nread < 0 || addr == nullptr || (flags & UV_UDP_PARTIAL)) return;
  // A reply after its request timed out, or from elsewhere, is not an answer.
  if (!net::SameAddress(addr, reinterpret_cast<const sockaddr*>(&s->udp_engine->target_))) return;
  std::string_view reply(buf->base, static_cast<size_t>(nread));
  if (reply.starts_with("COOKIE ")) {
    auto parsed = proto::ParseGetReply(reply);
    if (parsed.kind != proto::GetReply::Kind::kCookie) return;
    s->cookie = parsed.cookie;
    // The awaited datagram was answered with a cookie instead: send it again with it.
    if (s->awaiting_udp && !s->cookie_resent) {
      s->cookie_resent = true;
      std::string error;
      if (s->udp_engine->SendDatagrams(*s, &error, /*with_pre=*/false) == Sent::kFailed) {
        s->awaiting_udp = false;
        s->events->OnFailure(*s, "udp send", error);
      }
    }
    return;
  }
  if (!s->awaiting_udp) return;
  s->awaiting_udp = false;
  s->events->OnReply(*s, std::string(buf->base, static_cast<size_t>(nread)));
}

}  // namespace im::loadgen
