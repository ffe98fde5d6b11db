// Accounts, buddy lists and presence in one SQLite database file that several im-server
// processes may share. The only file that includes sqlite3.h.
//
// Every call returns at once: the connection has no busy timeout, so a database locked by
// another process gives kBusy instead of stalling the loop, and the caller decides when to
// retry (see GroupCommit and docs/DESIGN.md). Loop thread only; not copyable.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proto/request.h"

struct sqlite3;
struct sqlite3_stmt;

namespace im::server {

// A user's presence as last reported by a SET.
struct Presence {
  bool online = false;
  std::string ip;
  uint16_t port = 0;
  int64_t updated_ms = 0;  // wall clock, comparable across servers
};

// Presence keyed by user id, looked up by string_view without a copy.
struct UserIdHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using PresenceMap = std::unordered_map<std::string, Presence, UserIdHash, std::equal_to<>>;

class Store {
 public:
  enum class Status {
    kOk,
    kBusy,   // another connection holds the lock: nothing happened, try again later
    kError,  // anything else (I/O error, disk full, corruption): see last_error()
  };

  struct Options {
    std::string path;
    bool sync_full = true;    // synchronous=FULL: a commit survives a power cut
    int64_t max_users = 0;    // 0: no limit
    int cache_mib = 16;       // SQLite page cache of this connection
  };

  // Opens (creating if needed) the database and its schema. Start-up only: this is the
  // one place allowed to wait for a lock held by another process (up to 5 s).
  static std::unique_ptr<Store> Open(const Options& options, std::string* error);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- Write transactions: BeginWrite, then Apply/PutPresence any number of times, then
  // Commit or Rollback. BeginWrite takes the write lock or returns kBusy at once.
  // `durable` false commits without fsync (presence-only batches); accounts always use
  // the configured level.
  Status BeginWrite(bool durable);
  // Applies one account request. On kOk, *reply is the protocol answer. On any other
  // status the transaction must be rolled back.
  Status Apply(const proto::Request& request, proto::Reply* reply);
  // Records a user's presence; *written is false (and nothing written) if the user
  // does not exist or the database already holds a newer SET (from another server that
  // wrote its batch first: the newest heartbeat wins, whatever the commit order).
  Status PutPresence(std::string_view user, bool online, std::string_view ip, uint16_t port,
                     int64_t updated_ms, bool* written);
  Status Commit();
  void Rollback();  // safe to call when no transaction is open

  // --- Reads, outside any write transaction. The first read opens a read transaction
  // that later reads share until EndReads(): one snapshot (and one pair of WAL lock
  // syscalls) per loop iteration instead of per GET. BeginWrite ends it first.
  void EndReads();
  // Appends the GET reply lines for `user` to *out, sorted by buddy id. A buddy is ONLINE
  // if its last SET ONLINE is newer than now_ms - ttl_ms. `newer` holds presence accepted
  // but not yet committed; it wins over the database. *exists is false for an
  // unregistered user.
  Status AppendBuddyLines(std::string_view user, int64_t now_ms, int64_t ttl_ms,
                          const PresenceMap& newer, std::string* out, bool* exists);

  const std::string& last_error() const { return last_error_; }

 private:
  Store() = default;
  bool Prepare(std::string* error);
  Status Check(int rc, const char* what);
  Status UserExists(std::string_view user, bool* exists);
  Status Register(std::string_view user, proto::Reply* reply);
  Status AddBuddy(std::string_view user, std::string_view buddy, proto::Reply* reply);
  Status DelBuddy(std::string_view user, std::string_view buddy, proto::Reply* reply);
  Status Exec(sqlite3_stmt* stmt, const char* what);
  Status BeginReads();

  sqlite3* db_ = nullptr;
  Options options_;
  bool in_transaction_ = false;
  bool relaxed_sync_ = false;  // synchronous lowered for the open presence-only batch
  std::string last_error_;

  // Prepared once, reset after each use.
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* begin_read_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* sync_normal_ = nullptr;
  sqlite3_stmt* sync_full_ = nullptr;
  sqlite3_stmt* user_exists_ = nullptr;
  sqlite3_stmt* user_count_ = nullptr;
  sqlite3_stmt* insert_user_ = nullptr;
  sqlite3_stmt* buddy_exists_ = nullptr;
  sqlite3_stmt* buddy_count_ = nullptr;
  sqlite3_stmt* insert_buddy_ = nullptr;
  sqlite3_stmt* delete_buddy_ = nullptr;
  sqlite3_stmt* put_presence_ = nullptr;
  sqlite3_stmt* buddy_status_ = nullptr;
};

}  // namespace im::server
