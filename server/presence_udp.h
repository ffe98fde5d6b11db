// The UDP presence socket: receives datagrams (up to kRecvBatch per system call) for the
// PresenceService and sends its replies, queueing a bounded number when the kernel's
// buffer is full. Loop thread only; the object must outlive uv_run.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "net/handle.h"
#include "server/presence_service.h"

namespace im::server {

class PresenceUdp final : public PresenceService::ReplySender {
 public:
  struct Stats {
    uint64_t truncated = 0;     // datagrams larger than the receive buffer, dropped
    uint64_t send_dropped = 0;  // replies dropped because kMaxQueuedSends were queued
    uint64_t send_errors = 0;   // replies the kernel refused
  };

  explicit PresenceUdp(uv_loop_t* loop);
  PresenceUdp(const PresenceUdp&) = delete;
  PresenceUdp& operator=(const PresenceUdp&) = delete;

  // Binds addr (or adopts an already bound socket, inherited_fd >= 0) and starts handing
  // datagrams to `service`. On failure returns a libuv error code.
  int Start(const sockaddr* addr, int inherited_fd, PresenceService* service);
  int LocalPort() const;
  void Close();
  const Stats& stats() const { return stats_; }

  void SendReply(std::string_view bytes, const sockaddr* to) override;

 private:
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void OnRecv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                     unsigned flags) noexcept;
  static void AfterSend(uv_udp_send_t* req, int status) noexcept;

  // Replies queued in the kernel-full case; past this they are dropped (UDP may lose them
  // anyway, and clients ask again).
  static constexpr int kMaxQueuedSends = 1024;
  // recvmmsg: libuv splits this buffer into 64 KiB slots, one datagram each, and reads
  // up to kRecvBatch datagrams per system call. Reused (receive is synchronous); only the
  // pages datagrams land on become resident.
  static constexpr size_t kRecvSlotBytes = 64 * 1024;
  static constexpr size_t kRecvBatch = 16;

  net::OwnedHandle<uv_udp_t> udp_;
  PresenceService* service_ = nullptr;
  int queued_sends_ = 0;
  std::unique_ptr<char[]> recv_buf_{new char[kRecvSlotBytes * kRecvBatch]};
  Stats stats_;
};

}  // namespace im::server
