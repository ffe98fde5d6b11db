// The SQLite engine: accounts, buddy lists and presence in one database file that
// several im-server processes on one machine may share. The only file that includes
// sqlite3.h.
//
// Every call completes inside itself except a write that finds the database locked by
// another process: SQLite's own answer (sleeping in busy_timeout) would freeze the loop,
// so the connection has no busy timeout, and a timer retries the batch with a short
// backoff (1, 2, 4, 8, 16 ms ...) until its deadline (docs/DESIGN.md). The GETs of one
// loop iteration share one read transaction, ended by a check handle.
//
// Every kWatchMs the path is checked to still name the file that was opened (device and
// inode): a database deleted or replaced under a running server would otherwise take
// its writes into an orphaned file while other servers use a new one. Once the file is
// lost, every write fails with a clear error (500) and the log says why.
//
// Presence is soft state: with a presence TTL, rows older than it (ONLINE that timed out,
// or OFFLINE) are purged in bounded steps on a timer, each its own short transaction, so
// the table, and a GET's lookups in it, stay the size of the online population rather
// than of every account ever seen. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/check.h"
#include "net/timer.h"
#include "server/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace im::server {

class SqliteStore final : public Store {
 public:
  // Engine options (from "sqlite:PATH?name=value" or --sync / --cache-mib):
  //   sync=full|normal  full (default): every account commit is fsynced (survives power
  //                     loss); normal: survives a crash of the process only
  //   cache_mib=N       page cache of this connection (default 16)
  //   mmap_mib=N        read up to N MiB of the file through a memory map (default 0:
  //                     off): a page outside the cache costs no pread. The mapped pages
  //                     are the OS page cache, but they count in the process's RSS.
  struct Options {
    std::string path;
    bool sync_full = true;
    int cache_mib = 16;
    int mmap_mib = 0;
    int64_t max_users = 0;  // 0: no limit
    // Presence rows older than this are purged (as PresencePurge in store.h says);
    // 0: kept for good. Servers sharing a file should share their --presence-ttl.
    int64_t presence_ttl_ms = 0;
    int64_t (*wall_clock_ms)() = nullptr;  // the clock presence times are compared with; tests replace it
  };

  // Checks the engine options; false with *error for an unknown or bad one.
  static bool ParseOptions(const std::string& path, const std::vector<std::pair<std::string, std::string>>& options,
                           int64_t max_users, Options* out, std::string* error);
  // Opens (creating if needed) the database and its schema. Start-up only: this is the
  // one place that waits for a lock held by another process (up to 5 s).
  static std::unique_ptr<SqliteStore> Open(uv_loop_t* loop, const Options& options, std::string* error);
  ~SqliteStore() override;
  static constexpr uint64_t kWatchMs = 2000;

  void Write(WriteBatch* batch, WriteSink& sink) override;
  void ReadBuddies(BuddyQuery* query) override;
  void ReadAccount(AccountQuery* query) override;
  void ReadSession(SessionQuery* query) override;
  void ReadSecret(SecretQuery* query) override;
  void Close() override;
  std::string Describe() const override;
  std::string Stats() const override;

  // One purge step now, as the timer runs it; returns the rows it deleted (0 if it could
  // not run: a batch waiting for the lock, the database busy elsewhere).
  int TEST_PurgePresenceStep() { return PurgePresenceStep(); }
  int64_t TEST_MmapSize();  // PRAGMA mmap_size as SQLite applied it

 private:
  enum class Status { kOk, kBusy, kError };

  SqliteStore(uv_loop_t* loop, const Options& options);
  bool OpenDatabase(std::string* error);
  bool Prepare(std::string* error);
  void TryWrite();
  Status ApplyBatch(WriteBatch& batch);
  void FinishWrite(StoreStatus status);
  Status Check(int rc, const char* what);
  Status Exec(sqlite3_stmt* stmt, const char* what);
  Status BeginWrite(bool durable);
  Status Commit();
  void Rollback();
  Status BeginReads();
  void EndReads();
  StoreStatus ReadStatus(Status s) const;
  Status Apply(const StoreRequest& op, int64_t now_ms, proto::Reply* reply);
  // *password_hash (if not null) is empty for an account without a password.
  Status LookUpUser(std::string_view user, bool* exists, std::string* password_hash);
  Status AdvanceSession(const StoreRequest& op, int64_t now_ms, bool* proven);
  Status InsertSession(const StoreRequest& op);
  Status Register(const StoreRequest& op, proto::Reply* reply);
  Status AddBuddy(std::string_view user, std::string_view buddy, bool user_exists, bool user_protected,
                  proto::Reply* reply);
  Status DelBuddy(std::string_view user, std::string_view buddy, bool user_exists, proto::Reply* reply);
  Status PutPresence(std::string_view user, const Presence& presence, int64_t now_ms, bool* written);
  void RestoreFullSync();
  void WatchFile();
  int PurgePresenceStep();
  void OnPurgeTimer();

  uv_loop_t* loop_;
  Options options_;
  sqlite3* db_ = nullptr;
  net::Check end_reads_;       // ends the iteration's read transaction after its GETs
  net::Timer retry_;           // backoff while the database is locked elsewhere
  net::Timer watch_;           // is the path still our file?
  net::Timer purge_;           // the next presence purge step
  uint64_t file_dev_ = 0, file_ino_ = 0;
  std::string file_lost_;      // why writes are refused; empty while the file is ours
  bool open_busy_ = false;     // the open failed on a lock another starting server held: try again
  bool closed_ = false;
  bool in_transaction_ = false;
  bool relaxed_sync_ = false;  // synchronous lowered for the open presence-only batch
  std::string last_error_;

  // The batch being written, while it waits for the lock.
  WriteBatch* batch_ = nullptr;
  WriteSink* sink_ = nullptr;
  uint64_t busy_since_ms_ = 0;
  uint64_t retry_delay_ms_ = 0;
  uint64_t busy_retries_ = 0;
  uint64_t presence_purged_ = 0;  // rows deleted by the purge since start
  bool purge_failing_ = false;    // the last step failed (logged once)

  // Prepared once, reset after each use.
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* begin_read_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* sync_normal_ = nullptr;
  sqlite3_stmt* sync_full_ = nullptr;
  sqlite3_stmt* user_lookup_ = nullptr;
  sqlite3_stmt* user_count_ = nullptr;
  sqlite3_stmt* insert_user_ = nullptr;
  sqlite3_stmt* buddy_exists_ = nullptr;
  sqlite3_stmt* buddy_count_ = nullptr;
  sqlite3_stmt* insert_buddy_ = nullptr;
  sqlite3_stmt* delete_buddy_ = nullptr;
  sqlite3_stmt* insert_session_ = nullptr;
  sqlite3_stmt* advance_session_ = nullptr;
  sqlite3_stmt* raise_datagram_counter_ = nullptr;
  sqlite3_stmt* purge_sessions_ = nullptr;
  sqlite3_stmt* read_session_ = nullptr;
  sqlite3_stmt* insert_secret_ = nullptr;
  sqlite3_stmt* read_secret_ = nullptr;
  sqlite3_stmt* put_presence_ = nullptr;
  sqlite3_stmt* buddy_status_ = nullptr;
  sqlite3_stmt* purge_presence_ = nullptr;
};

}  // namespace im::server
