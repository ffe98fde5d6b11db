// What the presence port does with each datagram, apart from the socket: a SET goes to
// the group commit (written behind), a GET is read from the store and answered, with the
// SETs still waiting in memory taking precedence over what the store holds. No socket
// here: replies go through a ReplySender, so tests drive this directly.
// Loop thread only; the object must outlive uv_run.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/store.h"

namespace im::server {

class GroupCommit;

class PresenceService {
 public:
  class ReplySender {
   public:
    virtual void SendReply(std::string_view bytes, const sockaddr* to) = 0;

   protected:
    ~ReplySender() = default;
  };

  struct Stats {
    uint64_t sets = 0;             // well-formed SETs received (GroupCommit counts what it applied)
    uint64_t gets = 0;             // GETs answered with a buddy list
    uint64_t unknown_users = 0;    // GETs answered 202
    uint64_t malformed = 0;        // datagrams answered 400 (GET) or dropped (SET, other)
    uint64_t store_errors = 0;     // GETs answered 500
    uint64_t gets_shed = 0;        // GETs dropped because kMaxReadsInFlight were waiting
  };

  // Presence timestamps are compared across servers, so they come from the wall clock;
  // `wall_clock_ms` replaces it in tests.
  PresenceService(Store& store, GroupCommit& commit, ReplySender& sender, int64_t presence_ttl_ms,
                  int64_t (*wall_clock_ms)() = nullptr);
  ~PresenceService();
  PresenceService(const PresenceService&) = delete;
  PresenceService& operator=(const PresenceService&) = delete;

  void OnDatagram(std::string_view datagram, const sockaddr* from);
  const Stats& stats() const { return stats_; }

  // GETs waiting for a store that answers from a socket; past this, new ones are dropped
  // (clients ask again at their next interval).
  static constexpr size_t kMaxReadsInFlight = 4096;

 private:
  class Read;
  void Answer(Read& read);

  Store& store_;
  GroupCommit& commit_;
  ReplySender& sender_;
  int64_t presence_ttl_ms_;
  int64_t (*wall_clock_ms_)();
  std::vector<std::unique_ptr<Read>> free_reads_;  // reused: SQLite needs only one
  size_t reads_in_flight_ = 0;
  std::string reply_;  // scratch for GET replies; keeps its capacity
  Stats stats_;
};

}  // namespace im::server
