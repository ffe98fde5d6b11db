// What the presence port does with each datagram, apart from the socket: a SET goes to
// the group commit (written behind), a GET is read from the store and answered, with the
// SETs still waiting in memory taking precedence over what the store holds. No socket
// here: replies go through a ReplySender, so tests drive this directly.
//
// Security (PROTOCOL.md, "Presence"): a datagram with a proof is checked against its
// session (read from the store once, then cached with its replay window) and must carry
// a valid address cookie; only a proven SET may update a protected account, only a
// proven GET sees protected buddies' addresses. Answers to a source that has not shown
// it receives at its address (no valid cookie) are at most max(3 x request, 256) bytes
// and rate-limited per source IP: a longer list is answered with a cookie instead.
// Loop thread only; the object must outlive uv_run.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "auth/cookie.h"
#include "auth/rate_limiter.h"
#include "auth/replay_window.h"
#include "proto/presence.h"
#include "server/presence_store.h"
#include "server/proofs.h"
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
    uint64_t proven = 0;           // datagrams whose proof passed
    uint64_t bad_proofs = 0;       // proofs refused (session, window, MAC), dropped
    uint64_t replays = 0;          // proofs whose counter was seen, dropped
    uint64_t unauthorized = 0;     // unproven GETs of protected users, answered 401
    uint64_t cookies_sent = 0;     // COOKIE answers (a proof without a cookie, a list too long)
    uint64_t rate_limited = 0;     // answers to unvalidated sources dropped by the rate limit
  };

  // Answers per source IP to datagrams without a valid cookie: enough for a person's
  // bare GETs and a client's first round trip, too few to reflect anything.
  static constexpr double kUnvalidatedPerSecond = 20, kUnvalidatedBurst = 40;

  // Presence timestamps are compared across servers, so they come from the wall clock;
  // `wall_clock_ms` replaces it in tests.
  PresenceService(Store& store, GroupCommit& commit, ReplySender& sender, const Proofs& proofs,
                  int64_t presence_ttl_ms, int64_t (*wall_clock_ms)() = nullptr);
  ~PresenceService();
  PresenceService(const PresenceService&) = delete;
  PresenceService& operator=(const PresenceService&) = delete;

  // Cookies need the shared secret; until it is loaded none are issued or accepted.
  void SetSecret(std::string_view secret);
  // A GET's buddy presence comes from this engine (Redis) after the account store has
  // listed the buddies; nullptr (the default): from the account store's rows.
  void SetPresenceStore(PresenceStore* presence) { presence_store_ = presence; }
  void OnDatagram(std::string_view datagram, const sockaddr* from);
  const Stats& stats() const { return stats_; }

  // GETs and session loads waiting for a store that answers from a socket; past this, new
  // ones are dropped (clients ask again at their next interval).
  static constexpr size_t kMaxReadsInFlight = 4096;
  // Sessions kept with their replay windows; past this the cache starts again from the
  // store (whose counters trail by at most GroupCommit::kPresenceFlushMs).
  static constexpr size_t kMaxCachedSessions = 100000;

 private:
  class Read;
  class SessionLoad;
  using Datagram = std::variant<proto::SetPresence, proto::GetBuddies>;
  // One datagram on its way: what it asked, where from, how it stands.
  struct Context {
    sockaddr_storage from{};
    size_t size = 0;         // the request's bytes, for the amplification budget
    bool validated = false;  // a valid cookie: the source receives at its address
    bool proven = false;     // a valid proof for the user
    bool with_keys = false;  // a GET that asked for the buddies' chat keys
  };
  struct CachedSession {
    std::string user;
    int64_t expires_ms = 0;
    auth::ReplayWindow window;
    auth::MacKey mac_key;  // derived once (invalid until the shared secret is loaded)
  };

  void Dispatch(Datagram& datagram, const Context& context);
  void CheckProof(Datagram& datagram, Context context, CachedSession& session);
  void OnSessionLoaded(SessionLoad& load);
  void StartGet(const proto::GetBuddies& get, const Context& context);
  void OnBuddies(Read& read);
  void Answer(Read& read);
  // Sends `bytes` to the context's source within the rules for unvalidated sources.
  void SendBounded(std::string_view bytes, const Context& context);

  Store& store_;
  PresenceStore* presence_store_ = nullptr;
  GroupCommit& commit_;
  ReplySender& sender_;
  const Proofs& proofs_;
  int64_t presence_ttl_ms_;
  int64_t (*wall_clock_ms_)();
  std::optional<auth::CookieJar> cookies_;
  auth::RateLimiter unvalidated_;
  std::unordered_map<std::string, CachedSession> sessions_;
  std::vector<std::unique_ptr<Read>> free_reads_;  // reused: SQLite needs only one
  size_t reads_in_flight_ = 0;
  std::string reply_;  // scratch for GET replies; keeps its capacity
  Stats stats_;
};

}  // namespace im::server
