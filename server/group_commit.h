// Group commit: every account request that arrives during one loop iteration goes to the
// store in one batch (one transaction) at the end of the iteration, and the replies go
// out only after that batch is durable, so a 200 always means "on disk" while one fsync
// serves the whole batch.
//
// Presence is soft state that the next heartbeat rewrites, so it is written behind: SETs
// wait in memory (a newer one for the same user replaces the older) and go to the store
// with the next account batch or at most kPresenceFlushMs after the first of them. This
// server's GETs read the waiting ones through FindPending(); other servers sharing the
// store see them within kPresenceFlushMs.
//
// One batch is in flight at a time; what arrives meanwhile waits for the next. Every
// batch carries a deadline (its oldest request's arrival plus write_timeout_ms): the
// engine gives up by then and nothing of the batch is applied, and a batch whose deadline
// passed while it waited is answered 500 without being sent. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <vector>

#include "net/check.h"
#include "net/timer.h"
#include "proto/request.h"
#include "server/presence_store.h"
#include "server/store.h"

namespace im::server {

// Where a session hands its parsed request.
class RequestQueue {
 public:
  virtual void AddRequest(uint64_t session_id, StoreRequest request) = 0;

 protected:
  ~RequestQueue() = default;
};

class GroupCommit final : public RequestQueue, private Store::WriteSink {
 public:
  // Receives each request's reply once its batch is committed (or has failed).
  class Sink {
   public:
    virtual void OnCommitted(uint64_t session_id, proto::Reply reply) = 0;

   protected:
    ~Sink() = default;
  };

  struct Stats {
    uint64_t commits = 0;               // batches committed
    uint64_t requests = 0;              // account requests committed
    uint64_t presence_queued = 0;       // SETs accepted into memory
    uint64_t presence_written = 0;      // presence rows written
    uint64_t presence_dropped = 0;      // SETs for unknown users (or older than the row), dropped
    uint64_t presence_overflow = 0;     // SETs dropped because too many users were waiting
    uint64_t failed_requests = 0;       // requests answered 500
    uint64_t failed_batches = 0;
  };

  // `wall_clock_ms` stamps each batch (tests pass a fake clock).
  GroupCommit(uv_loop_t* loop, Store& store, Sink& sink, int64_t write_timeout_ms,
              int64_t (*wall_clock_ms)() = nullptr);
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Presence goes to this engine (Redis) instead of with the account batches; the
  // session counters still go to the Store. nullptr (the default): all in the Store.
  void SetPresenceStore(PresenceStore* presence) { presence_store_ = presence; }
  // Starts the end-of-iteration hook. Close() stops it and the presence timer.
  void Start();
  void Close();

  void AddRequest(uint64_t session_id, StoreRequest request) override;
  // Queues a presence update; a newer one for the same user replaces it, except that an
  // unproven one never replaces a proven one. Returns false (and counts it) if dropped,
  // or if kMaxPendingPresence users are already waiting.
  bool AddPresence(std::string_view user, bool online, std::string_view ip, uint16_t port,
                   int64_t updated_ms, bool proven = false, std::string_view chat_key = {},
                   std::string_view proof_session = {}, uint64_t proof_counter = 0);
  // Records a proven datagram's counter, written behind with the presence.
  void RaiseSessionCounter(std::string_view session, uint64_t counter);
  // Presence accepted but not yet in the store (waiting, or in the batch being written):
  // newer than what the store holds. nullptr if none.
  const Presence* FindPending(std::string_view user) const;

  // Shutdown: send what is waiting now, and let nothing wait past `deadline_ms` (uv_now).
  void FlushBefore(uint64_t deadline_ms);
  bool idle() const {
    return waiting_.requests.empty() && waiting_.presence.empty() && waiting_.session_counters.empty() && !in_flight_;
  }
  const Stats& stats() const { return stats_; }

  static constexpr size_t kMaxPendingPresence = 100000;
  // How long a SET may wait in memory; well inside PROTOCOL.md's "within a second" for
  // other servers, and long enough that a user's heartbeats coalesce under load.
  static constexpr uint64_t kPresenceFlushMs = 50;
  // A batch this large is written at the end of the iteration without waiting.
  static constexpr size_t kPresenceFlushSize = 20000;

 private:
  void OnCheck();
  void OnBatchWritten(WriteBatch& batch) override;
  void Flush();
  bool DueNow() const;
  void Answer(WriteBatch& batch, const std::vector<uint64_t>& sessions);

  uv_loop_t* loop_;
  Store& store_;
  PresenceStore* presence_store_ = nullptr;
  Sink& sink_;
  int64_t write_timeout_ms_;
  int64_t (*wall_clock_ms_)();
  net::Check check_;           // runs Flush after each iteration's I/O callbacks
  net::Timer presence_timer_;  // bounds how long a SET waits in memory
  uint64_t oldest_request_ms_ = 0;  // uv_now when the first waiting request arrived
  uint64_t give_up_at_ms_ = 0;      // 0, or the shutdown deadline
  bool in_flight_ = false;     // written_ is with the store
  bool flushing_ = false;      // inside Flush: a batch that completes at once must not recurse
  // Waiting: requests (with their sessions) and presence for the next batch.
  WriteBatch waiting_;
  std::vector<uint64_t> waiting_sessions_;
  // In flight: the batch the store is writing, and whom to answer.
  WriteBatch written_;
  std::vector<uint64_t> written_sessions_;
  Stats stats_;
};

}  // namespace im::server
