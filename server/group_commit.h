// Group commit: every account request that arrives during one loop iteration is
// committed in one SQLite transaction at the end of the iteration, and the replies go out
// only after that commit, so a 200 always means "on disk" while one fsync serves the
// whole batch.
//
// Presence is soft state that the next heartbeat rewrites, so it is written behind: SETs
// wait in memory (a newer one for the same user replaces the older) and go to the
// database with the next account batch or at most kPresenceFlushMs after the first of
// them. This server's GETs read the waiting ones through pending_presence(); other
// servers sharing the file see them within kPresenceFlushMs.
//
// A database locked by another process never blocks the loop: BeginWrite fails at once,
// a timer retries with a short backoff (1, 2, 4, 8, 16 ms ...), and new writes join the
// waiting batch. After busy_timeout_ms without success every waiting request gets
// 500 SERVER ERROR and nothing of it is applied. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

#include "proto/request.h"
#include "server/store.h"

namespace im::server {

class GroupCommit {
 public:
  // Receives each request's reply once its batch is committed (or has failed).
  class Sink {
   public:
    virtual void OnCommitted(uint64_t session_id, proto::Reply reply) = 0;

   protected:
    ~Sink() = default;
  };

  struct Stats {
    uint64_t commits = 0;               // transactions committed
    uint64_t requests = 0;              // account requests committed
    uint64_t presence_written = 0;      // presence rows written
    uint64_t presence_dropped = 0;      // SETs for unknown users (or older than the row), dropped
    uint64_t presence_overflow = 0;     // SETs dropped because too many were waiting
    uint64_t busy_retries = 0;          // BeginWrite attempts that found the lock taken
    uint64_t failed_requests = 0;       // requests answered 500
  };

  GroupCommit(uv_loop_t* loop, Store& store, Sink& sink, int64_t busy_timeout_ms);
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Starts the end-of-iteration hook. Close() stops it; the object must outlive uv_run.
  void Start();
  void Close();

  void AddRequest(uint64_t session_id, proto::Request request);
  // Queues a presence update; a newer one for the same user replaces it. Returns false
  // (and counts it) if kMaxPendingPresence users are already waiting.
  bool AddPresence(std::string_view user, bool online, std::string_view ip, uint16_t port,
                   int64_t updated_ms);
  // Presence accepted but not yet committed: newer than what the database holds.
  const PresenceMap& pending_presence() const { return presence_; }

  // Shutdown: commit what is waiting now, and give up retrying at `deadline_ms` (uv_now).
  void FlushBefore(uint64_t deadline_ms);
  bool idle() const { return requests_.empty() && presence_.empty(); }
  const Stats& stats() const { return stats_; }

  static constexpr size_t kMaxPendingPresence = 100000;
  // How long a SET may wait in memory; well inside PROTOCOL.md's "within a second" for
  // other servers, and long enough that a user's heartbeats coalesce under load.
  static constexpr uint64_t kPresenceFlushMs = 50;
  // A batch this large is written at the end of the iteration without waiting.
  static constexpr size_t kPresenceFlushSize = 20000;

 private:
  struct PendingRequest {
    uint64_t session_id;
    proto::Request request;
  };
  static void OnCheck(uv_check_t* handle);
  static void OnRetryTimer(uv_timer_t* handle);
  static void OnPresenceTimer(uv_timer_t* handle);
  void Flush();
  void RetryLater();
  void FailAll(const char* why);

  uv_loop_t* loop_;
  Store& store_;
  Sink& sink_;
  int64_t busy_timeout_ms_;
  uv_check_t check_;      // runs Flush after each iteration's I/O callbacks
  uv_timer_t retry_;      // backoff while the database is locked elsewhere
  uv_timer_t presence_timer_;  // bounds how long a SET waits in memory
  bool started_ = false;
  uint64_t busy_since_ms_ = 0;   // uv_now when the waiting batch first found the lock taken
  uint64_t give_up_at_ms_ = 0;   // 0, or the shutdown deadline
  uint64_t retry_delay_ms_ = 0;
  std::vector<PendingRequest> requests_;
  PresenceMap presence_;
  std::vector<proto::Reply> replies_;  // scratch, reused across batches
  Stats stats_;
};

}  // namespace im::server
