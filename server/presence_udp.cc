#include "server/presence_udp.h"

#include <time.h>

#include "proto/presence.h"
#include "server/group_commit.h"
#include "server/log.h"
#include "server/store.h"

namespace im::server {
namespace {

struct SendReq {
  uv_udp_send_t req;
  std::string bytes;  // must live until AfterSend
};

// Presence timestamps are compared across processes (several servers share the
// database), so they use the wall clock, not the loop's monotonic clock.
int64_t WallClockMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

PresenceUdp::PresenceUdp(uv_loop_t* loop, Store& store, GroupCommit& commit,
                         int64_t presence_ttl_ms)
    : loop_(loop), store_(store), commit_(commit), presence_ttl_ms_(presence_ttl_ms) {
  uv_udp_init_ex(loop_, &udp_, AF_UNSPEC | UV_UDP_RECVMMSG);
  udp_.data = this;
  uv_check_init(loop_, &end_reads_);
  end_reads_.data = this;
}

int PresenceUdp::Start(const sockaddr* addr, int inherited_fd) {
  int rc = inherited_fd >= 0 ? uv_udp_open(&udp_, inherited_fd) : uv_udp_bind(&udp_, addr, 0);
  if (rc != 0) return rc;
  // A larger kernel buffer absorbs bursts of heartbeats; failure here is harmless.
  int size = 4 << 20;
  uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&udp_), &size);
  rc = uv_udp_recv_start(&udp_, OnAlloc, OnRecv);
  started_ = rc == 0;
  if (started_) uv_check_start(&end_reads_, OnCheck);  // a check does not keep the loop alive
  return rc;
}

void PresenceUdp::OnCheck(uv_check_t* handle) noexcept {
  static_cast<PresenceUdp*>(handle->data)->store_.EndReads();
}

int PresenceUdp::LocalPort() const {
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (uv_udp_getsockname(&udp_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);  // same offset for v6
}

void PresenceUdp::Close() {
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&udp_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&udp_), nullptr);  // member of a long-lived object
    uv_close(reinterpret_cast<uv_handle_t*>(&end_reads_), nullptr);
  }
  store_.EndReads();
}

void PresenceUdp::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<PresenceUdp*>(handle->data);
  *buf = uv_buf_init(self->recv_buf_.get(), kRecvSlotBytes * kRecvBatch);
}

void PresenceUdp::OnRecv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                         unsigned flags) noexcept {
  auto* self = static_cast<PresenceUdp*>(udp->data);
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
  self->OnDatagram(std::string_view(buf->base, static_cast<size_t>(nread)), addr);
}

void PresenceUdp::OnDatagram(std::string_view datagram, const sockaddr* from) {
  auto parsed = proto::ParseDatagram(datagram);
  if (auto* set = std::get_if<proto::SetPresence>(&parsed)) {
    char ip[64] = "unknown";
    if (from->sa_family == AF_INET) {
      uv_ip4_name(reinterpret_cast<const sockaddr_in*>(from), ip, sizeof ip);
    } else if (from->sa_family == AF_INET6) {
      uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(from), ip, sizeof ip);
    }
    ++stats_.sets;
    commit_.AddPresence(set->user, set->online, ip, set->msg_port, WallClockMs());
    return;
  }
  if (auto* get = std::get_if<proto::GetBuddies>(&parsed)) {
    reply_.clear();
    bool exists = false;
    Store::Status status =
        store_.AppendBuddyLines(get->user, WallClockMs(), presence_ttl_ms_,
                                commit_.pending_presence(), &reply_, &exists);
    if (status != Store::Status::kOk) {
      ++stats_.store_errors;
      IM_LOG(kWarn, "udp GET %s: %s", get->user.c_str(),
             status == Store::Status::kBusy ? "database busy" : store_.last_error().c_str());
      Send(proto::kGetServerError, from);
    } else if (!exists) {
      ++stats_.unknown_users;
      Send(proto::kGetNoSuchUser, from);
    } else {
      ++stats_.gets;
      Send(reply_, from);
    }
    return;
  }
  ++stats_.malformed;
  std::string_view reply = proto::ErrorReplyFor(datagram, std::get<proto::DatagramError>(parsed));
  if (!reply.empty()) Send(reply, from);
}

void PresenceUdp::Send(std::string_view bytes, const sockaddr* to) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  int rc = uv_udp_try_send(&udp_, &buf, 1, to);
  if (rc >= 0) return;
  if (rc != UV_EAGAIN) {
    IM_LOG(kDebug, "udp send: %s", uv_strerror(rc));
    return;
  }
  if (queued_sends_ >= kMaxQueuedSends) {
    ++stats_.send_dropped;
    return;
  }
  auto* req = new SendReq;
  req->bytes.assign(bytes);
  req->req.data = this;
  uv_buf_t copy = uv_buf_init(req->bytes.data(), static_cast<unsigned>(req->bytes.size()));
  if (uv_udp_send(&req->req, &udp_, &copy, 1, to, AfterSend) != 0) {
    delete req;
    return;
  }
  ++queued_sends_;
}

void PresenceUdp::AfterSend(uv_udp_send_t* req, int) noexcept {
  auto* self = static_cast<PresenceUdp*>(req->data);
  --self->queued_sends_;
  delete reinterpret_cast<SendReq*>(req);
}

}  // namespace im::server
