// The UDP presence socket: SET datagrams go to the group commit, GET datagrams are
// answered at once from the database (WAL readers never wait for writers), the GETs of
// one loop iteration in one read transaction. Loop thread only; the object must outlive
// uv_run.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

namespace im::server {

class GroupCommit;
class Store;

class PresenceUdp {
 public:
  struct Stats {
    uint64_t sets = 0;             // well-formed SETs queued
    uint64_t gets = 0;             // GETs answered with a buddy list
    uint64_t unknown_users = 0;    // GETs answered 202
    uint64_t malformed = 0;        // datagrams answered 400 (GET) or dropped (SET, other)
    uint64_t truncated = 0;        // datagrams larger than the receive buffer, dropped
    uint64_t store_errors = 0;     // GETs answered 500
    uint64_t send_dropped = 0;     // replies dropped because too many sends were queued
  };

  PresenceUdp(uv_loop_t* loop, Store& store, GroupCommit& commit, int64_t presence_ttl_ms);
  PresenceUdp(const PresenceUdp&) = delete;
  PresenceUdp& operator=(const PresenceUdp&) = delete;

  // Binds host:port (or adopts an already bound socket, inherited_fd >= 0) and starts
  // receiving. On failure returns a libuv error code.
  int Start(const sockaddr* addr, int inherited_fd = -1);
  int LocalPort() const;
  void Close();
  const Stats& stats() const { return stats_; }

 private:
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void OnRecv(uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                     unsigned flags) noexcept;
  static void AfterSend(uv_udp_send_t* req, int status) noexcept;
  static void OnCheck(uv_check_t* handle) noexcept;
  void OnDatagram(std::string_view datagram, const sockaddr* from);
  void Send(std::string_view bytes, const sockaddr* to);

  // Replies queued in the kernel-full case; past this they are dropped (UDP may lose them
  // anyway, and clients ask again).
  static constexpr int kMaxQueuedSends = 1024;

  uv_loop_t* loop_;
  Store& store_;
  GroupCommit& commit_;
  int64_t presence_ttl_ms_;
  uv_udp_t udp_;
  uv_check_t end_reads_;  // ends the iteration's read transaction after its GETs
  bool started_ = false;
  int queued_sends_ = 0;
  // recvmmsg: libuv splits this buffer into 64 KiB slots, one datagram each, and reads
  // up to kRecvBatch datagrams per system call. Reused (receive is synchronous); only the
  // pages datagrams land on become resident.
  static constexpr size_t kRecvSlotBytes = 64 * 1024;
  static constexpr size_t kRecvBatch = 16;
  std::unique_ptr<char[]> recv_buf_{new char[kRecvSlotBytes * kRecvBatch]};
  std::string reply_;      // scratch for GET replies; keeps its capacity
  Stats stats_;
};

}  // namespace im::server
