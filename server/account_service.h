// What happens to an account request between its session and the group commit: the
// password work and the proofs. REG with a password reads the account, hashes or
// verifies the password on the PasswordPool (off the loop), and sends the store a
// request carrying the hash and a new session; a proven ADD/DEL reads its session and
// checks the MAC before the store checks its counter. Everything else passes straight
// to the group commit. Replies come back through the group commit, and a granted
// session's reply line gets its grant here (never logged: it holds the key).
//
// Throttles (token buckets, auth/rate_limiter.h): failed log-ins per account and per
// source address, registrations with a password per source address; past them, 429 at
// once without hashing. Loop thread only; the object must outlive uv_run.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "auth/rate_limiter.h"
#include "server/group_commit.h"
#include "server/password_pool.h"
#include "server/proofs.h"
#include "server/store.h"

namespace im::server {

struct AccountOptions {
  bool auth_required = false;                   // REG without a password is refused (205)
  auth::PasswordCost password_cost = auth::PasswordCost::kInteractive;
  int64_t session_ttl_ms = 7 * 24 * 3600 * 1000LL;  // how long a log-in's session lasts
};

// Where a session hands its parsed request, with the address it came from.
class AccountRequests {
 public:
  virtual void Submit(uint64_t session_id, proto::Request request, const sockaddr* from) = 0;

 protected:
  ~AccountRequests() = default;
};

class AccountService final : public AccountRequests, public GroupCommit::Sink {
 public:
  class Sink {
   public:
    // `line` is the whole reply line with its "\n"; `reply` is what may be logged.
    virtual void OnAnswer(uint64_t session_id, proto::Reply reply, std::string_view line) = 0;

   protected:
    ~Sink() = default;
  };

  struct Stats {
    uint64_t logins = 0;          // good passwords
    uint64_t failed_logins = 0;   // wrong passwords
    uint64_t throttled = 0;       // answered 429 by a token bucket
    uint64_t pool_full = 0;       // answered 429 because the hashing queue was full
    uint64_t bad_proofs = 0;      // ADD/DEL answered 401 before the store
  };

  AccountService(uv_loop_t* loop, Store& store, const Proofs& proofs, const AccountOptions& options, Sink& sink,
                 int64_t (*wall_clock_ms)() = nullptr);
  AccountService(const AccountService&) = delete;
  AccountService& operator=(const AccountService&) = delete;

  // Must be called before requests arrive (a reference cycle: the commit answers here).
  void SetCommit(GroupCommit* commit) { commit_ = commit; }

  void Submit(uint64_t session_id, proto::Request request, const sockaddr* from) override;
  // GroupCommit::Sink
  void OnCommitted(uint64_t session_id, proto::Reply reply) override;

  void Close() { pool_.Close(); }
  // Nothing waits for a read or a hash.
  bool idle() const { return pool_.idle() && reads_in_flight_ == 0; }
  const Stats& stats() const { return stats_; }
  const PasswordPool::Stats& pool_stats() const { return pool_.stats(); }

 private:
  class AccountRead;
  class SessionRead;
  void OnAccountRead(AccountRead& read);
  void OnSessionRead(SessionRead& read);
  void Answer(uint64_t session_id, proto::Reply reply) { sink_.OnAnswer(session_id, reply, proto::ReplyLine(reply)); }
  void Commit(uint64_t session_id, StoreRequest request);
  void StartSession(StoreRequest* request);

  uv_loop_t* loop_;
  Store& store_;
  const Proofs& proofs_;
  AccountOptions options_;
  Sink& sink_;
  int64_t (*wall_clock_ms_)();
  GroupCommit* commit_ = nullptr;
  PasswordPool pool_;
  size_t reads_in_flight_ = 0;
  auth::RateLimiter failures_per_user_;
  auth::RateLimiter failures_per_ip_;
  auth::RateLimiter registrations_per_ip_;
  // Sessions created by a REG still in the group commit: their grant goes on the reply.
  std::unordered_map<uint64_t, proto::SessionGrant> grants_;
  Stats stats_;
};

}  // namespace im::server
