// Group commit: every write that arrives during one loop iteration (account requests and
// presence updates) is committed in one SQLite transaction at the end of the iteration,
// and the replies go out only after that commit, so a 200 always means "on disk" while
// one fsync serves the whole batch.
//
// A database locked by another process never blocks the loop: BeginWrite fails at once,
// a timer retries with a short backoff (1, 2, 4, 8, 16 ms ...), and new writes join the
// waiting batch. After busy_timeout_ms without success every waiting request gets
// 500 SERVER ERROR and nothing of it is applied. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_map>
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
    uint64_t presence_unregistered = 0; // SETs for unknown users, dropped
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
  bool AddPresence(const std::string& user, bool online, const std::string& ip, uint16_t port,
                   int64_t updated_ms);

  // Shutdown: commit what is waiting now, and give up retrying at `deadline_ms` (uv_now).
  void FlushBefore(uint64_t deadline_ms);
  bool idle() const { return requests_.empty() && presence_.empty(); }
  const Stats& stats() const { return stats_; }

  static constexpr size_t kMaxPendingPresence = 100000;

 private:
  struct PendingRequest {
    uint64_t session_id;
    proto::Request request;
  };
  struct PendingPresence {
    bool online;
    std::string ip;
    uint16_t port;
    int64_t updated_ms;
  };

  static void OnCheck(uv_check_t* handle);
  static void OnRetryTimer(uv_timer_t* handle);
  void Flush();
  void RetryLater();
  void FailAll(const char* why);

  uv_loop_t* loop_;
  Store& store_;
  Sink& sink_;
  int64_t busy_timeout_ms_;
  uv_check_t check_;      // runs Flush after each iteration's I/O callbacks
  uv_timer_t retry_;      // backoff while the database is locked elsewhere
  bool started_ = false;
  uint64_t busy_since_ms_ = 0;   // uv_now when the waiting batch first found the lock taken
  uint64_t give_up_at_ms_ = 0;   // 0, or the shutdown deadline
  uint64_t retry_delay_ms_ = 0;
  std::vector<PendingRequest> requests_;
  std::unordered_map<std::string, PendingPresence> presence_;
  std::vector<proto::Reply> replies_;  // scratch, reused across batches
  Stats stats_;
};

}  // namespace im::server
