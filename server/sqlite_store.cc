#include "server/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "net/log.h"
#include "server/wall_clock.h"

namespace im::server {
namespace {

// Schema version 5. WITHOUT ROWID: every table is looked up by its text key only.
// The trigger keeps an O(1) user count for --max-users, whatever inserts the rows
// (the server, or a bulk seed straight into the file). A password hash makes an account
// protected, for good (no verb adds or removes one), so it is copied into the buddies rows
// at ADD: buddy_protected for the buddy, user_protected for the list's owner. A GET then
// reads its whole answer from the user's buddies range, with no lookup per buddy and none
// in users (on a large file that lookup is a page read of its own; the users table is
// read only for a user without buddies). Sessions hold no key: each is derived from the
// shared secret (docs/DESIGN.md). presence_by_age lets the purge find expired presence
// without a scan (version 5; IF NOT EXISTS adds it to older files).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS users(
  id      TEXT PRIMARY KEY NOT NULL,
  pw_hash TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS buddies(
  user            TEXT NOT NULL,
  buddy           TEXT NOT NULL,
  buddy_protected INTEGER NOT NULL DEFAULT 0,
  user_protected  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (user, buddy)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions(
  sid              TEXT PRIMARY KEY NOT NULL,
  user             TEXT NOT NULL,
  expires_ms       INTEGER NOT NULL,
  account_counter  INTEGER NOT NULL DEFAULT 0,
  datagram_counter INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions(expires_ms);
CREATE TABLE IF NOT EXISTS secrets(
  name  TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS presence(
  user       TEXT PRIMARY KEY NOT NULL,
  online     INTEGER NOT NULL,
  ip         TEXT NOT NULL,
  port       INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  chat_key   TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS presence_by_age ON presence(updated_ms);
CREATE TABLE IF NOT EXISTS counters(
  name  TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO counters VALUES ('users', (SELECT count(*) FROM users));
CREATE TRIGGER IF NOT EXISTS users_counted AFTER INSERT ON users BEGIN
  UPDATE counters SET value = value + 1 WHERE name = 'users';
END;
)sql";

// Version 1 files (before passwords) gain the new columns; every old account is unprotected.
constexpr const char* kMigrateFrom1 = R"sql(
ALTER TABLE users ADD COLUMN pw_hash TEXT;
ALTER TABLE buddies ADD COLUMN buddy_protected INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 2 files gain the owner's protection in each buddies row, filled in from users.
constexpr const char* kMigrateFrom2 = R"sql(
ALTER TABLE buddies ADD COLUMN user_protected INTEGER NOT NULL DEFAULT 0;
UPDATE buddies SET user_protected = 1 WHERE user IN (SELECT id FROM users WHERE pw_hash IS NOT NULL);
)sql";

// Version 3 files (and older ones that had a presence table) gain the chat key's
// fingerprint in presence; run after kSchema, so the table exists.
constexpr const char* kMigrateTo4 = "ALTER TABLE presence ADD COLUMN chat_key TEXT NOT NULL DEFAULT ''";

void BindText(sqlite3_stmt* stmt, int index, std::string_view text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
}

// Resets a statement when it goes out of scope, so every early return leaves it reusable.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~ResetOnExit() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

}  // namespace

namespace {
constexpr uint64_t kMaxRetryDelayMs = 16;
}  // namespace

bool SqliteStore::ParseOptions(const std::string& path,
                               const std::vector<std::pair<std::string, std::string>>& options, int64_t max_users,
                               Options* out, std::string* error) {
  Options o;
  o.path = path;
  o.max_users = max_users;
  for (const auto& [name, value] : options) {
    if (name == "sync") {
      if (value != "full" && value != "normal") {
        *error = "sqlite option sync=" + value + ": --sync must be full or normal";
        return false;
      }
      o.sync_full = value == "full";
    } else if (name == "cache_mib" || name == "mmap_mib") {
      bool cache = name == "cache_mib";
      int min = cache ? 1 : 0;
      int mib = -1;
      size_t used = 0;
      try {
        mib = std::stoi(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != value.size() || mib < min || mib > 65536) {
        *error = "sqlite option " + name + "=" + value + ": --" + (cache ? "cache-mib" : "mmap-mib") + " must be from " +
                 std::to_string(min) + " to 65536";
        return false;
      }
      (cache ? o.cache_mib : o.mmap_mib) = mib;
    } else {
      *error = "sqlite option " + name + "=" + value + ": unknown (known: sync=full|normal, cache_mib=N, mmap_mib=N)";
      return false;
    }
  }
  if (o.path.empty()) {
    *error = "sqlite: no database path";
    return false;
  }
  *out = o;
  return true;
}

std::unique_ptr<SqliteStore> SqliteStore::Open(uv_loop_t* loop, const Options& options, std::string* error) {
  // Two servers creating one new file at once: SQLite may answer SQLITE_BUSY without
  // calling the busy handler (the other one is switching it to WAL), so the open is tried
  // again, for at most ~5 s. Start-up only: the loop is not running yet.
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<SqliteStore> store(new SqliteStore(loop, options));
    if (store->OpenDatabase(error)) return store;
    bool busy = store->open_busy_;
    store->Close();
    if (!busy || attempt >= 250) return nullptr;
    usleep(20000);
  }
}

SqliteStore::SqliteStore(uv_loop_t* loop, const Options& options)
    : loop_(loop),
      options_(options),
      end_reads_(loop, this, [](void* self) { static_cast<SqliteStore*>(self)->EndReads(); }),
      retry_(loop, this, [](void* self) { static_cast<SqliteStore*>(self)->TryWrite(); }),
      watch_(loop, this, [](void* self) { static_cast<SqliteStore*>(self)->WatchFile(); }),
      purge_(loop, this, [](void* self) { static_cast<SqliteStore*>(self)->OnPurgeTimer(); }) {
  if (options_.wall_clock_ms == nullptr) options_.wall_clock_ms = WallClockMs;
  end_reads_.Start();
}

void SqliteStore::WatchFile() {
  if (!file_lost_.empty()) return;
  struct stat st;
  // A stat of a local path: microseconds, like the file I/O SQLite does on the loop anyway.
  if (stat(options_.path.c_str(), &st) != 0) {
    file_lost_ = "database file " + options_.path + " was deleted (" + strerror(errno) + ")";
  } else if (st.st_dev != file_dev_ || st.st_ino != file_ino_) {
    file_lost_ = "database file " + options_.path + " was replaced by another file";
  } else {
    return;
  }
  IM_LOG(kError, "%s: refusing every write from now on; restart the server on the right file", file_lost_.c_str());
  watch_.Stop();
}

bool SqliteStore::OpenDatabase(std::string* error) {
  int rc = sqlite3_open_v2(options_.path.c_str(), &db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    *error = "sqlite3_open " + options_.path + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    return false;
  }
  sqlite3_extended_result_codes(db_, 1);
  // Start-up may wait for another server that is creating the schema right now.
  sqlite3_busy_timeout(db_, 5000);
  std::string pragmas = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                        (options_.sync_full ? "FULL" : "NORMAL") + "; PRAGMA foreign_keys=OFF;" +
                        " PRAGMA cache_size=-" + std::to_string(options_.cache_mib * 1024) + ";" +
                        " PRAGMA mmap_size=" + std::to_string(int64_t{options_.mmap_mib} << 20) + ";";
  auto exec = [&](const std::string& sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) == SQLITE_OK) return true;
    open_busy_ = (sqlite3_errcode(db_) & 0xff) == SQLITE_BUSY;
    *error = "open " + options_.path + ": " + (msg ? msg : sqlite3_errmsg(db_));
    sqlite3_free(msg);
    return false;
  };
  if (!exec(pragmas) || !exec("BEGIN IMMEDIATE")) return false;
  // Read the version inside the write lock: two servers starting at once migrate once.
  int version = 0;
  sqlite3_exec(db_, "PRAGMA user_version", [](void* out, int, char** v, char**) {
    *static_cast<int*>(out) = v[0] ? std::atoi(v[0]) : 0;
    return 0;
  }, &version, nullptr);
  // A version 1 or 2 file may have had no presence table (kSchema made it, with the
  // column) or one without the column: the table says which.
  auto has_chat_key = [&] {
    int found = 0;
    sqlite3_exec(db_, "SELECT 1 FROM pragma_table_info('presence') WHERE name = 'chat_key'",
                 [](void* out, int, char**, char**) {
                   *static_cast<int*>(out) = 1;
                   return 0;
                 }, &found, nullptr);
    return found != 0;
  };
  bool ok = (version != 1 || exec(kMigrateFrom1)) && ((version != 1 && version != 2) || exec(kMigrateFrom2)) &&
            exec(kSchema) && (has_chat_key() || exec(kMigrateTo4)) && exec("PRAGMA user_version = 5") &&
            exec("COMMIT");
  if (!ok) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return false;
  }
  // From here on the loop never waits inside SQLite: a lock held elsewhere is kBusy.
  sqlite3_busy_timeout(db_, 0);
  struct stat st;
  if (stat(options_.path.c_str(), &st) != 0) {
    *error = "stat " + options_.path + ": " + strerror(errno);
    return false;
  }
  file_dev_ = st.st_dev;
  file_ino_ = st.st_ino;
  watch_.Start(kWatchMs, kWatchMs);
  watch_.Unref();  // never what keeps the loop alive
  if (options_.presence_ttl_ms > 0) {
    purge_.Start(PresencePurge::kEveryMs);
    purge_.Unref();
  }
  return Prepare(error);
}

SqliteStore::~SqliteStore() {
  Close();
  for (sqlite3_stmt* stmt :
       {begin_, begin_read_, commit_, rollback_, sync_normal_, sync_full_, user_lookup_, user_count_,
        insert_user_, buddy_exists_, buddy_count_, insert_buddy_, delete_buddy_, insert_session_,
        advance_session_, raise_datagram_counter_, purge_sessions_, read_session_, insert_secret_,
        read_secret_, put_presence_, buddy_status_, purge_presence_}) {
    sqlite3_finalize(stmt);  // a no-op on nullptr
  }
  if (db_ != nullptr) sqlite3_close(db_);
}

void SqliteStore::Close() {
  if (closed_) return;
  closed_ = true;
  retry_.Stop();
  watch_.Stop();
  purge_.Stop();
  end_reads_.Stop();
  if (db_ != nullptr) EndReads();
  if (batch_ != nullptr) FinishWrite(StoreStatus::Error("shutting down"));
}

std::string SqliteStore::Describe() const {
  return "sqlite " + options_.path + " (synchronous=" + (options_.sync_full ? "FULL" : "NORMAL") +
         (options_.mmap_mib > 0 ? ", mmap " + std::to_string(options_.mmap_mib) + " MiB" : "") + ")";
}

int64_t SqliteStore::TEST_MmapSize() {
  int64_t size = -1;
  sqlite3_exec(
      db_, "PRAGMA mmap_size",
      [](void* out, int, char** values, char**) {
        *static_cast<int64_t*>(out) = values[0] ? std::stoll(values[0]) : -1;
        return 0;
      },
      &size, nullptr);
  return size;
}

std::string SqliteStore::Stats() const {
  return "busy retries " + std::to_string(busy_retries_) + ", presence purged " + std::to_string(presence_purged_);
}

bool SqliteStore::Prepare(std::string* error) {
  struct {
    sqlite3_stmt** stmt;
    const char* sql;
  } statements[] = {
      {&begin_, "BEGIN IMMEDIATE"},
      {&begin_read_, "BEGIN DEFERRED"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&sync_normal_, "PRAGMA synchronous=NORMAL"},
      {&sync_full_, "PRAGMA synchronous=FULL"},
      {&user_lookup_, "SELECT pw_hash FROM users WHERE id = ?1"},
      {&user_count_, "SELECT value FROM counters WHERE name = 'users'"},
      {&insert_user_, "INSERT OR IGNORE INTO users(id, pw_hash) VALUES (?1, ?2)"},
      {&buddy_exists_, "SELECT 1 FROM buddies WHERE user = ?1 AND buddy = ?2"},
      {&buddy_count_, "SELECT count(*) FROM buddies WHERE user = ?1"},
      {&insert_buddy_, "INSERT INTO buddies(user, buddy, buddy_protected, user_protected) VALUES (?1, ?2, ?3, ?4)"},
      {&delete_buddy_, "DELETE FROM buddies WHERE user = ?1 AND buddy = ?2"},
      {&insert_session_, "INSERT INTO sessions(sid, user, expires_ms) VALUES (?1, ?2, ?3)"},
      // A proof's counter passes once: the row changes only if it is above the stored one.
      {&advance_session_,
       "UPDATE sessions SET account_counter = ?3 WHERE sid = ?1 AND user = ?2 AND expires_ms > ?4 "
       "AND account_counter < ?3"},
      {&raise_datagram_counter_,
       "UPDATE sessions SET datagram_counter = max(datagram_counter, ?2) WHERE sid = ?1"},
      // Bounded steps, so one batch never spends long on it.
      {&purge_sessions_,
       "DELETE FROM sessions WHERE sid IN (SELECT sid FROM sessions WHERE expires_ms < ?1 LIMIT 64)"},
      {&read_session_,
       "SELECT user, expires_ms, account_counter, datagram_counter FROM sessions WHERE sid = ?1"},
      {&insert_secret_, "INSERT OR IGNORE INTO secrets(name, value) VALUES ('shared', ?1)"},
      {&read_secret_, "SELECT value FROM secrets WHERE name = 'shared'"},
      // The WHERE clauses drop, in the same statement, presence for unknown users, unproven
      // presence for protected ones, and anything older than the stored row; a stored time
      // ahead of this server's clock (?7) counts as now, so it cannot block later SETs.
      {&put_presence_,
       "INSERT INTO presence(user, online, ip, port, updated_ms, chat_key) "
       "SELECT ?1, ?2, ?3, ?4, ?5, ?8 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?1 AND (pw_hash IS NULL OR ?6)) "
       // A proven SET is a replay if its session already stored a higher counter (any server's).
       "AND (?9 IS NULL OR ?10 > coalesce((SELECT datagram_counter FROM sessions WHERE sid = ?9), 0)) "
       "ON CONFLICT(user) DO UPDATE SET online = excluded.online, ip = excluded.ip, "
       "port = excluded.port, updated_ms = excluded.updated_ms, chat_key = excluded.chat_key "
       "WHERE excluded.updated_ms >= min(presence.updated_ms, ?7)"},
      // Rows come out in primary-key order, i.e. sorted by buddy id (BINARY collation). The
      // last column is the user's own protection, the same in each of the user's rows.
      {&buddy_status_,
       "SELECT b.buddy, b.buddy_protected, p.online, p.ip, p.port, p.updated_ms, b.user_protected, p.chat_key "
       "FROM buddies AS b "
       "LEFT JOIN presence AS p ON p.user = b.buddy WHERE b.user = ?1 ORDER BY b.buddy"},
      // The oldest rows first, through presence_by_age; a GET shows none of them online.
      {&purge_presence_,
       "DELETE FROM presence WHERE user IN "
       "(SELECT user FROM presence WHERE updated_ms < ?1 ORDER BY updated_ms LIMIT ?2)"},
  };
  for (auto& s : statements) {
    if (sqlite3_prepare_v3(db_, s.sql, -1, SQLITE_PREPARE_PERSISTENT, s.stmt, nullptr) !=
        SQLITE_OK) {
      *error = std::string("prepare \"") + s.sql + "\": " + sqlite3_errmsg(db_);
      return false;
    }
  }
  return true;
}

SqliteStore::Status SqliteStore::Check(int rc, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::kOk;
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) return Status::kBusy;
  last_error_ = std::string(what) + ": " + sqlite3_errstr(rc) + " (" + sqlite3_errmsg(db_) + ")";
  return Status::kError;
}

SqliteStore::Status SqliteStore::Exec(sqlite3_stmt* stmt, const char* what) {
  ResetOnExit reset(stmt);
  return Check(sqlite3_step(stmt), what);
}

// --- Writes.

void SqliteStore::Write(WriteBatch* batch, WriteSink& sink) {
  batch_ = batch;
  sink_ = &sink;
  busy_since_ms_ = 0;
  retry_delay_ms_ = 1;
  if (closed_) return FinishWrite(StoreStatus::Error("shutting down"));
  TryWrite();
}

void SqliteStore::TryWrite() {
  if (batch_ == nullptr) return;
  if (!file_lost_.empty()) return FinishWrite(StoreStatus::Error(file_lost_));
  Status s = ApplyBatch(*batch_);
  if (s == Status::kOk) return FinishWrite(StoreStatus::Ok());
  if (s == Status::kError) return FinishWrite(StoreStatus::Error(last_error_));
  // Busy: nothing was applied. Try again shortly, never past the batch's deadline.
  ++busy_retries_;
  uint64_t now = uv_now(loop_);
  if (busy_since_ms_ == 0) {
    busy_since_ms_ = now;
    IM_LOG(kInfo, "database is locked by another connection; retrying without blocking");
  }
  if (now >= batch_->deadline_ms) {
    return FinishWrite(StoreStatus::Busy("database stayed locked for " +
                                         std::to_string(now - busy_since_ms_) + " ms"));
  }
  retry_.Start(std::min(retry_delay_ms_, batch_->deadline_ms - now));
  retry_delay_ms_ = std::min(retry_delay_ms_ * 2, kMaxRetryDelayMs);
}

void SqliteStore::FinishWrite(StoreStatus status) {
  WriteBatch* batch = batch_;
  WriteSink* sink = sink_;
  batch_ = nullptr;
  sink_ = nullptr;
  retry_.Stop();
  batch->status = std::move(status);
  sink->OnBatchWritten(*batch);  // may start the next batch
}

// One transaction for the whole batch; on any failure it is rolled back whole.
SqliteStore::Status SqliteStore::ApplyBatch(WriteBatch& batch) {
  // Presence alone is soft state that the next heartbeat rewrites: committed without
  // fsync. Any account write makes the whole batch durable.
  Status status = BeginWrite(batch.durable());
  if (status != Status::kOk) return status;
  batch.replies.assign(batch.requests.size(), proto::Reply::kServerError);
  for (size_t i = 0; i < batch.requests.size() && status == Status::kOk; ++i) {
    status = Apply(batch.requests[i], batch.now_ms, &batch.replies[i]);
  }
  uint64_t written = 0, dropped = 0;
  for (auto it = batch.presence.begin(); it != batch.presence.end() && status == Status::kOk; ++it) {
    bool row_written = false;
    status = PutPresence(it->first, it->second, batch.now_ms, &row_written);
    ++(row_written ? written : dropped);
  }
  for (auto it = batch.session_counters.begin(); it != batch.session_counters.end() && status == Status::kOk; ++it) {
    ResetOnExit reset(raise_datagram_counter_);
    BindText(raise_datagram_counter_, 1, it->first);
    sqlite3_bind_int64(raise_datagram_counter_, 2, static_cast<int64_t>(it->second));
    status = Check(sqlite3_step(raise_datagram_counter_), "raise session counter");
  }
  if (status == Status::kOk && batch.durable()) {
    ResetOnExit reset(purge_sessions_);
    sqlite3_bind_int64(purge_sessions_, 1, batch.now_ms);
    status = Check(sqlite3_step(purge_sessions_), "purge sessions");
  }
  if (status == Status::kOk) status = Commit();
  if (status != Status::kOk) {
    Rollback();
    batch.replies.clear();
    return status;
  }
  batch.presence_written = written;
  batch.presence_dropped = dropped;
  return Status::kOk;
}

SqliteStore::Status SqliteStore::BeginWrite(bool durable) {
  EndReads();
  relaxed_sync_ = options_.sync_full && !durable;
  if (relaxed_sync_) {
    // Safe in WAL mode: a later FULL commit syncs every frame before it, so accounts
    // are never less durable; only this presence batch may be lost in a power cut.
    if (Status s = Exec(sync_normal_, "PRAGMA synchronous"); s != Status::kOk) return s;
  }
  Status s = Exec(begin_, "BEGIN IMMEDIATE");
  if (s == Status::kOk) {
    in_transaction_ = true;
  } else {
    RestoreFullSync();
  }
  return s;
}

SqliteStore::Status SqliteStore::Commit() {
  Status s = Exec(commit_, "COMMIT");
  if (s == Status::kOk) {
    in_transaction_ = false;
    RestoreFullSync();
  }
  return s;
}

void SqliteStore::Rollback() {
  if (!sqlite3_get_autocommit(db_)) Exec(rollback_, "ROLLBACK");
  in_transaction_ = false;
  RestoreFullSync();
}

void SqliteStore::RestoreFullSync() {
  if (!relaxed_sync_) return;
  Exec(sync_full_, "PRAGMA synchronous");
  relaxed_sync_ = false;
}

SqliteStore::Status SqliteStore::LookUpUser(std::string_view user, bool* exists, std::string* password_hash) {
  ResetOnExit reset(user_lookup_);
  BindText(user_lookup_, 1, user);
  int rc = sqlite3_step(user_lookup_);
  *exists = rc == SQLITE_ROW;
  if (password_hash != nullptr) {
    const unsigned char* text = *exists ? sqlite3_column_text(user_lookup_, 0) : nullptr;
    password_hash->assign(text ? reinterpret_cast<const char*>(text) : "");
  }
  return Check(rc, "find user");
}

SqliteStore::Status SqliteStore::Apply(const StoreRequest& op, int64_t now_ms, proto::Reply* reply) {
  const proto::Request& request = op.request;
  switch (request.verb) {
    case proto::Verb::kReg: return Register(op, reply);
    case proto::Verb::kAdd:
    case proto::Verb::kDel: {
      bool exists = false;
      std::string hash;
      if (Status s = LookUpUser(request.user, &exists, &hash); s != Status::kOk) return s;
      if (exists && !hash.empty()) {
        bool proven = false;
        if (Status s = AdvanceSession(op, now_ms, &proven); s != Status::kOk) return s;
        if (!proven) {
          *reply = proto::Reply::kUnauthorized;
          return Status::kOk;
        }
      }
      return request.verb == proto::Verb::kAdd ? AddBuddy(request.user, request.buddy, exists, !hash.empty(), reply)
                                               : DelBuddy(request.user, request.buddy, exists, reply);
    }
    case proto::Verb::kPing: *reply = proto::Reply::kOk; return Status::kOk;  // sessions answer it first
  }
  return Status::kError;
}

SqliteStore::Status SqliteStore::AdvanceSession(const StoreRequest& op, int64_t now_ms, bool* proven) {
  *proven = false;
  if (op.proof_session.empty()) return Status::kOk;
  ResetOnExit reset(advance_session_);
  BindText(advance_session_, 1, op.proof_session);
  BindText(advance_session_, 2, op.request.user);
  sqlite3_bind_int64(advance_session_, 3, static_cast<int64_t>(op.proof_counter));
  sqlite3_bind_int64(advance_session_, 4, now_ms);
  Status s = Check(sqlite3_step(advance_session_), "check session");
  *proven = s == Status::kOk && sqlite3_changes(db_) > 0;
  return s;
}

SqliteStore::Status SqliteStore::InsertSession(const StoreRequest& op) {
  ResetOnExit reset(insert_session_);
  BindText(insert_session_, 1, op.new_session);
  BindText(insert_session_, 2, op.request.user);
  sqlite3_bind_int64(insert_session_, 3, op.session_expires_ms);
  return Check(sqlite3_step(insert_session_), "insert session");
}

SqliteStore::Status SqliteStore::Register(const StoreRequest& op, proto::Reply* reply) {
  std::string_view user = op.request.user;
  bool exists = false;
  std::string stored_hash;
  if (Status s = LookUpUser(user, &exists, &stored_hash); s != Status::kOk) return s;
  if (op.login) {
    // The server verified the password against this hash; it must still be the account's.
    if (!exists || stored_hash.empty() || stored_hash != op.password_hash) {
      *reply = proto::Reply::kWrongPassword;
      return Status::kOk;
    }
    if (Status s = InsertSession(op); s != Status::kOk) return s;
    *reply = proto::Reply::kLoggedIn;
    return Status::kOk;
  }
  if (exists) {
    if (op.password_hash.empty()) {
      *reply = stored_hash.empty() ? proto::Reply::kAlreadyRegistered : proto::Reply::kPasswordRequired;
    } else {
      *reply = stored_hash.empty() ? proto::Reply::kNotProtected : proto::Reply::kAlreadyRegistered;
    }
    return Status::kOk;
  }
  if (options_.max_users > 0) {
    ResetOnExit reset(user_count_);
    int rc = sqlite3_step(user_count_);
    if (Status s = Check(rc, "count users"); s != Status::kOk) return s;
    if (rc == SQLITE_ROW && sqlite3_column_int64(user_count_, 0) >= options_.max_users) {
      *reply = proto::Reply::kRegistrationClosed;
      return Status::kOk;
    }
  }
  {
    ResetOnExit reset(insert_user_);
    BindText(insert_user_, 1, user);
    if (op.password_hash.empty()) {
      sqlite3_bind_null(insert_user_, 2);
    } else {
      BindText(insert_user_, 2, op.password_hash);
    }
    if (Status s = Check(sqlite3_step(insert_user_), "insert user"); s != Status::kOk) return s;
  }
  if (!op.new_session.empty()) {
    if (Status s = InsertSession(op); s != Status::kOk) return s;
  }
  *reply = proto::Reply::kOk;
  return Status::kOk;
}

SqliteStore::Status SqliteStore::AddBuddy(std::string_view user, std::string_view buddy, bool user_exists,
                                          bool user_protected, proto::Reply* reply) {
  bool buddy_exists = false;
  std::string buddy_hash;
  if (Status s = LookUpUser(buddy, &buddy_exists, &buddy_hash); s != Status::kOk) return s;
  if (!user_exists || !buddy_exists || user == buddy) {
    *reply = proto::Reply::kNoSuchUser;
    return Status::kOk;
  }
  {
    ResetOnExit reset(buddy_exists_);
    BindText(buddy_exists_, 1, user);
    BindText(buddy_exists_, 2, buddy);
    int rc = sqlite3_step(buddy_exists_);
    if (Status s = Check(rc, "find buddy"); s != Status::kOk) return s;
    if (rc == SQLITE_ROW) {
      *reply = proto::Reply::kAlreadyBuddy;
      return Status::kOk;
    }
  }
  {
    ResetOnExit reset(buddy_count_);
    BindText(buddy_count_, 1, user);
    int rc = sqlite3_step(buddy_count_);
    if (Status s = Check(rc, "count buddies"); s != Status::kOk) return s;
    if (rc == SQLITE_ROW && sqlite3_column_int(buddy_count_, 0) >= proto::kMaxBuddies) {
      *reply = proto::Reply::kBuddyListFull;
      return Status::kOk;
    }
  }
  ResetOnExit reset(insert_buddy_);
  BindText(insert_buddy_, 1, user);
  BindText(insert_buddy_, 2, buddy);
  sqlite3_bind_int(insert_buddy_, 3, buddy_hash.empty() ? 0 : 1);
  sqlite3_bind_int(insert_buddy_, 4, user_protected ? 1 : 0);
  if (Status s = Check(sqlite3_step(insert_buddy_), "insert buddy"); s != Status::kOk) return s;
  *reply = proto::Reply::kOk;
  return Status::kOk;
}

// Like ADD, both ids must be registered accounts (202 otherwise); then 201 if buddy is
// not on user's list.
SqliteStore::Status SqliteStore::DelBuddy(std::string_view user, std::string_view buddy, bool user_exists,
                                          proto::Reply* reply) {
  bool buddy_exists = false;
  if (Status s = LookUpUser(buddy, &buddy_exists, nullptr); s != Status::kOk) return s;
  if (!user_exists || !buddy_exists) {
    *reply = proto::Reply::kNoSuchUser;
    return Status::kOk;
  }
  ResetOnExit reset(delete_buddy_);
  BindText(delete_buddy_, 1, user);
  BindText(delete_buddy_, 2, buddy);
  if (Status s = Check(sqlite3_step(delete_buddy_), "delete buddy"); s != Status::kOk) return s;
  *reply = sqlite3_changes(db_) > 0 ? proto::Reply::kOk : proto::Reply::kNotABuddy;
  return Status::kOk;
}

SqliteStore::Status SqliteStore::PutPresence(std::string_view user, const Presence& presence, int64_t now_ms,
                                             bool* written) {
  ResetOnExit reset(put_presence_);
  BindText(put_presence_, 1, user);
  sqlite3_bind_int(put_presence_, 2, presence.online ? 1 : 0);
  BindText(put_presence_, 3, presence.ip);
  sqlite3_bind_int(put_presence_, 4, presence.port);
  sqlite3_bind_int64(put_presence_, 5, presence.updated_ms);
  sqlite3_bind_int(put_presence_, 6, presence.proven ? 1 : 0);
  sqlite3_bind_int64(put_presence_, 7, now_ms);
  BindText(put_presence_, 8, presence.chat_key);
  if (presence.proof_session.empty()) {
    sqlite3_bind_null(put_presence_, 9);
  } else {
    BindText(put_presence_, 9, presence.proof_session);
  }
  sqlite3_bind_int64(put_presence_, 10, static_cast<int64_t>(std::min<uint64_t>(presence.proof_counter, INT64_MAX)));
  Status s = Check(sqlite3_step(put_presence_), "put presence");
  *written = s == Status::kOk && sqlite3_changes(db_) > 0;
  return s;
}

// --- The presence purge.

void SqliteStore::OnPurgeTimer() {
  int purged = PurgePresenceStep();
  if (!closed_) purge_.Start(purged >= PresencePurge::kRows ? PresencePurge::kBacklogMs : PresencePurge::kEveryMs);
}

int SqliteStore::PurgePresenceStep() {
  // A batch waiting for the lock goes first; a lost file takes no writes at all.
  if (closed_ || batch_ != nullptr || !file_lost_.empty()) return 0;
  // Soft state, like a presence-only batch: committed without fsync.
  Status s = BeginWrite(/*durable=*/false);
  if (s != Status::kOk) return 0;  // busy elsewhere: the next tick tries again
  int purged = 0;
  {
    ResetOnExit reset(purge_presence_);
    sqlite3_bind_int64(purge_presence_, 1, options_.wall_clock_ms() - options_.presence_ttl_ms);
    sqlite3_bind_int(purge_presence_, 2, PresencePurge::kRows);
    s = Check(sqlite3_step(purge_presence_), "purge presence");
    if (s == Status::kOk) purged = sqlite3_changes(db_);
  }
  if (s == Status::kOk) s = Commit();
  if (s != Status::kOk) {
    Rollback();
    // Said once, not every second while it lasts.
    if (s == Status::kError && !purge_failing_) IM_LOG(kWarn, "presence purge: %s", last_error_.c_str());
    purge_failing_ = s == Status::kError;
    return 0;
  }
  purge_failing_ = false;
  presence_purged_ += static_cast<uint64_t>(purged);
  return purged;
}

// --- Reads.

// Reads never run inside a write transaction (a batch opens and closes its own within
// one call), so an open transaction outside a write is the reads' own.
SqliteStore::Status SqliteStore::BeginReads() {
  if (!sqlite3_get_autocommit(db_)) return Status::kOk;
  return Exec(begin_read_, "BEGIN");
}

void SqliteStore::EndReads() {
  // Ending a read-only transaction releases its snapshot; it has nothing to fail on.
  if (!in_transaction_ && !sqlite3_get_autocommit(db_)) Exec(commit_, "COMMIT");
}

void SqliteStore::ReadBuddies(BuddyQuery* query) {
  // The caller reuses its query: rows are overwritten in place, so their strings keep
  // their capacity from one GET to the next, and only the surplus is dropped at the end.
  size_t n = 0;
  query->exists = false;
  query->user_protected = false;
  Status s = closed_ ? Status::kError : BeginReads();
  if (s == Status::kOk) {
    ResetOnExit reset(buddy_status_);
    BindText(buddy_status_, 1, query->user);
    int rc;
    while ((rc = sqlite3_step(buddy_status_)) == SQLITE_ROW) {
      auto text = [&](int col) {
        const unsigned char* p = sqlite3_column_text(buddy_status_, col);
        return std::string_view(p ? reinterpret_cast<const char*>(p) : "",
                                static_cast<size_t>(sqlite3_column_bytes(buddy_status_, col)));
      };
      BuddyRow& row = n < query->rows.size() ? query->rows[n] : query->rows.emplace_back();
      ++n;
      row.id.assign(text(0));
      row.is_protected = sqlite3_column_int(buddy_status_, 1) != 0;
      row.has_presence = sqlite3_column_type(buddy_status_, 2) != SQLITE_NULL;
      if (row.has_presence) {
        row.presence.online = sqlite3_column_int(buddy_status_, 2) != 0;
        row.presence.ip.assign(text(3));
        row.presence.port = static_cast<uint16_t>(sqlite3_column_int(buddy_status_, 4));
        row.presence.updated_ms = sqlite3_column_int64(buddy_status_, 5);
        row.presence.chat_key.assign(text(7));
      }
      query->user_protected = sqlite3_column_int(buddy_status_, 6) != 0;
    }
    s = Check(rc, "read buddies");
  }
  query->rows.resize(n);
  if (s == Status::kOk && n > 0) {
    query->exists = true;  // only a registered user can have had ADD succeed
  } else if (s == Status::kOk) {
    std::string hash;
    s = LookUpUser(query->user, &query->exists, &hash);
    query->user_protected = !hash.empty();
  }
  query->status = ReadStatus(s);
  query->OnBuddiesRead();
}

StoreStatus SqliteStore::ReadStatus(Status s) const {
  if (s == Status::kOk) return StoreStatus::Ok();
  if (s == Status::kBusy) return StoreStatus::Busy("database busy");
  return StoreStatus::Error(closed_ ? "shutting down" : last_error_);
}

void SqliteStore::ReadAccount(AccountQuery* query) {
  Status s = closed_ ? Status::kError : BeginReads();
  if (s == Status::kOk) s = LookUpUser(query->user, &query->exists, &query->password_hash);
  query->status = ReadStatus(s);
  query->OnAccountRead();
}

void SqliteStore::ReadSession(SessionQuery* query) {
  query->exists = false;
  Status s = closed_ ? Status::kError : BeginReads();
  if (s == Status::kOk) {
    ResetOnExit reset(read_session_);
    BindText(read_session_, 1, query->session);
    int rc = sqlite3_step(read_session_);
    if (rc == SQLITE_ROW) {
      query->exists = true;
      const unsigned char* user = sqlite3_column_text(read_session_, 0);
      query->user.assign(user ? reinterpret_cast<const char*>(user) : "");
      query->expires_ms = sqlite3_column_int64(read_session_, 1);
      query->account_counter = static_cast<uint64_t>(sqlite3_column_int64(read_session_, 2));
      query->datagram_counter = static_cast<uint64_t>(sqlite3_column_int64(read_session_, 3));
    }
    s = Check(rc, "read session");
  }
  query->status = ReadStatus(s);
  query->OnSessionRead();
}

// Start-up only, so it may write outside a batch: the first server stores its candidate.
void SqliteStore::ReadSecret(SecretQuery* query) {
  Status s = closed_ ? Status::kError : Status::kOk;
  if (s == Status::kOk) {
    EndReads();
    ResetOnExit reset(insert_secret_);
    // Raw random bytes: a blob, never text (it may hold a NUL).
    sqlite3_bind_blob(insert_secret_, 1, query->candidate.data(), static_cast<int>(query->candidate.size()),
                      SQLITE_TRANSIENT);
    s = Check(sqlite3_step(insert_secret_), "store secret");
  }
  if (s == Status::kOk) {
    ResetOnExit reset(read_secret_);
    int rc = sqlite3_step(read_secret_);
    const void* value = rc == SQLITE_ROW ? sqlite3_column_blob(read_secret_, 0) : nullptr;
    int bytes = value != nullptr ? sqlite3_column_bytes(read_secret_, 0) : 0;
    query->secret.clear();
    if (bytes > 0) query->secret.assign(static_cast<const char*>(value), static_cast<size_t>(bytes));
    s = Check(rc, "read secret");
    if (s == Status::kOk && query->secret.empty()) {
      s = Status::kError;
      last_error_ = "no shared secret stored";
    }
  }
  query->status = ReadStatus(s);
  query->OnSecretRead();
}

}  // namespace im::server
