#include "server/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>

#include "net/log.h"

namespace im::server {
namespace {

// Schema version 1. WITHOUT ROWID: every table is looked up by its text key only.
// The trigger keeps an O(1) user count for --max-users, whatever inserts the rows
// (the server, or a bulk seed straight into the file).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS users(
  id TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS buddies(
  user  TEXT NOT NULL,
  buddy TEXT NOT NULL,
  PRIMARY KEY (user, buddy)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS presence(
  user       TEXT PRIMARY KEY NOT NULL,
  online     INTEGER NOT NULL,
  ip         TEXT NOT NULL,
  port       INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters(
  name  TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO counters VALUES ('users', (SELECT count(*) FROM users));
CREATE TRIGGER IF NOT EXISTS users_counted AFTER INSERT ON users BEGIN
  UPDATE counters SET value = value + 1 WHERE name = 'users';
END;
PRAGMA user_version = 1;
)sql";

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
    } else if (name == "cache_mib") {
      size_t used = 0;
      try {
        o.cache_mib = std::stoi(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != value.size() || o.cache_mib < 1 || o.cache_mib > 65536) {
        *error = "sqlite option cache_mib=" + value + ": --cache-mib must be from 1 to 65536";
        return false;
      }
    } else {
      *error = "sqlite option " + name + "=" + value + ": unknown (known: sync=full|normal, cache_mib=N)";
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
  std::unique_ptr<SqliteStore> store(new SqliteStore(loop, options));
  if (!store->OpenDatabase(error)) {
    store->Close();
    return nullptr;
  }
  return store;
}

SqliteStore::SqliteStore(uv_loop_t* loop, const Options& options)
    : loop_(loop),
      options_(options),
      end_reads_(loop, this, [](void* self) { static_cast<SqliteStore*>(self)->EndReads(); }),
      retry_(loop, this, [](void* self) { static_cast<SqliteStore*>(self)->TryWrite(); }) {
  end_reads_.Start();
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
                        " PRAGMA cache_size=-" + std::to_string(options_.cache_mib * 1024) + ";";
  char* msg = nullptr;
  for (const std::string& sql : {pragmas, std::string("BEGIN IMMEDIATE;") + kSchema + "COMMIT;"}) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      *error = "open " + options_.path + ": " + (msg ? msg : sqlite3_errmsg(db_));
      sqlite3_free(msg);
      return false;
    }
  }
  // From here on the loop never waits inside SQLite: a lock held elsewhere is kBusy.
  sqlite3_busy_timeout(db_, 0);
  return Prepare(error);
}

SqliteStore::~SqliteStore() {
  Close();
  for (sqlite3_stmt* stmt :
       {begin_, begin_read_, commit_, rollback_, sync_normal_, sync_full_, user_exists_, user_count_,
        insert_user_, buddy_exists_, buddy_count_, insert_buddy_, delete_buddy_, put_presence_,
        buddy_status_}) {
    sqlite3_finalize(stmt);  // a no-op on nullptr
  }
  if (db_ != nullptr) sqlite3_close(db_);
}

void SqliteStore::Close() {
  if (closed_) return;
  closed_ = true;
  retry_.Stop();
  end_reads_.Stop();
  if (db_ != nullptr) EndReads();
  if (batch_ != nullptr) FinishWrite(StoreStatus::Error("shutting down"));
}

std::string SqliteStore::Describe() const {
  return "sqlite " + options_.path + " (synchronous=" + (options_.sync_full ? "FULL" : "NORMAL") + ")";
}

std::string SqliteStore::Stats() const { return "busy retries " + std::to_string(busy_retries_); }

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
      {&user_exists_, "SELECT 1 FROM users WHERE id = ?1"},
      {&user_count_, "SELECT value FROM counters WHERE name = 'users'"},
      {&insert_user_, "INSERT OR IGNORE INTO users(id) VALUES (?1)"},
      {&buddy_exists_, "SELECT 1 FROM buddies WHERE user = ?1 AND buddy = ?2"},
      {&buddy_count_, "SELECT count(*) FROM buddies WHERE user = ?1"},
      {&insert_buddy_, "INSERT INTO buddies(user, buddy) VALUES (?1, ?2)"},
      {&delete_buddy_, "DELETE FROM buddies WHERE user = ?1 AND buddy = ?2"},
      // The WHERE clause drops presence for unknown users in the same statement.
      {&put_presence_,
       "INSERT INTO presence(user, online, ip, port, updated_ms) "
       "SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?1) "
       "ON CONFLICT(user) DO UPDATE SET online = excluded.online, ip = excluded.ip, "
       "port = excluded.port, updated_ms = excluded.updated_ms "
       "WHERE excluded.updated_ms >= presence.updated_ms"},
      // Rows come out in primary-key order, i.e. sorted by buddy id (BINARY collation).
      {&buddy_status_,
       "SELECT b.buddy, p.online, p.ip, p.port, p.updated_ms FROM buddies AS b "
       "LEFT JOIN presence AS p ON p.user = b.buddy WHERE b.user = ?1 ORDER BY b.buddy"},
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
    status = Apply(batch.requests[i], &batch.replies[i]);
  }
  uint64_t written = 0, dropped = 0;
  for (auto it = batch.presence.begin(); it != batch.presence.end() && status == Status::kOk; ++it) {
    bool row_written = false;
    status = PutPresence(it->first, it->second, &row_written);
    ++(row_written ? written : dropped);
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

SqliteStore::Status SqliteStore::UserExists(std::string_view user, bool* exists) {
  ResetOnExit reset(user_exists_);
  BindText(user_exists_, 1, user);
  int rc = sqlite3_step(user_exists_);
  *exists = rc == SQLITE_ROW;
  return Check(rc, "find user");
}

SqliteStore::Status SqliteStore::Apply(const proto::Request& request, proto::Reply* reply) {
  switch (request.verb) {
    case proto::Verb::kReg: return Register(request.user, reply);
    case proto::Verb::kAdd: return AddBuddy(request.user, request.buddy, reply);
    case proto::Verb::kDel: return DelBuddy(request.user, request.buddy, reply);
    case proto::Verb::kPing: *reply = proto::Reply::kOk; return Status::kOk;  // sessions answer it first
  }
  return Status::kError;
}

SqliteStore::Status SqliteStore::Register(std::string_view user, proto::Reply* reply) {
  if (options_.max_users > 0) {
    bool exists = false;
    if (Status s = UserExists(user, &exists); s != Status::kOk) return s;
    if (exists) {
      *reply = proto::Reply::kAlreadyRegistered;
      return Status::kOk;
    }
    ResetOnExit reset(user_count_);
    int rc = sqlite3_step(user_count_);
    if (Status s = Check(rc, "count users"); s != Status::kOk) return s;
    if (rc == SQLITE_ROW && sqlite3_column_int64(user_count_, 0) >= options_.max_users) {
      *reply = proto::Reply::kRegistrationClosed;
      return Status::kOk;
    }
  }
  ResetOnExit reset(insert_user_);
  BindText(insert_user_, 1, user);
  if (Status s = Check(sqlite3_step(insert_user_), "insert user"); s != Status::kOk) return s;
  *reply = sqlite3_changes(db_) > 0 ? proto::Reply::kOk : proto::Reply::kAlreadyRegistered;
  return Status::kOk;
}

SqliteStore::Status SqliteStore::AddBuddy(std::string_view user, std::string_view buddy, proto::Reply* reply) {
  bool user_exists = false, buddy_exists = false;
  if (Status s = UserExists(user, &user_exists); s != Status::kOk) return s;
  if (Status s = UserExists(buddy, &buddy_exists); s != Status::kOk) return s;
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
  if (Status s = Check(sqlite3_step(insert_buddy_), "insert buddy"); s != Status::kOk) return s;
  *reply = proto::Reply::kOk;
  return Status::kOk;
}

// Like ADD, both ids must be registered accounts (202 otherwise); then 201 if buddy is
// not on user's list.
SqliteStore::Status SqliteStore::DelBuddy(std::string_view user, std::string_view buddy, proto::Reply* reply) {
  bool user_exists = false, buddy_exists = false;
  if (Status s = UserExists(user, &user_exists); s != Status::kOk) return s;
  if (Status s = UserExists(buddy, &buddy_exists); s != Status::kOk) return s;
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

SqliteStore::Status SqliteStore::PutPresence(std::string_view user, const Presence& presence, bool* written) {
  ResetOnExit reset(put_presence_);
  BindText(put_presence_, 1, user);
  sqlite3_bind_int(put_presence_, 2, presence.online ? 1 : 0);
  BindText(put_presence_, 3, presence.ip);
  sqlite3_bind_int(put_presence_, 4, presence.port);
  sqlite3_bind_int64(put_presence_, 5, presence.updated_ms);
  Status s = Check(sqlite3_step(put_presence_), "put presence");
  *written = s == Status::kOk && sqlite3_changes(db_) > 0;
  return s;
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
  query->rows.clear();
  query->exists = false;
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
      BuddyRow& row = query->rows.emplace_back();
      row.id.assign(text(0));
      row.has_presence = sqlite3_column_type(buddy_status_, 1) != SQLITE_NULL;
      if (row.has_presence) {
        row.presence.online = sqlite3_column_int(buddy_status_, 1) != 0;
        row.presence.ip.assign(text(2));
        row.presence.port = static_cast<uint16_t>(sqlite3_column_int(buddy_status_, 3));
        row.presence.updated_ms = sqlite3_column_int64(buddy_status_, 4);
      }
    }
    s = Check(rc, "read buddies");
  }
  if (s == Status::kOk && !query->rows.empty()) {
    query->exists = true;  // only a registered user can have had ADD succeed
  } else if (s == Status::kOk) {
    s = UserExists(query->user, &query->exists);
  }
  if (s == Status::kOk) {
    query->status = StoreStatus::Ok();
  } else if (s == Status::kBusy) {
    query->status = StoreStatus::Busy("database busy");
  } else {
    query->status = StoreStatus::Error(closed_ ? "shutting down" : last_error_);
  }
  query->OnBuddiesRead();
}

}  // namespace im::server
