#include "server/store.h"

#include <sqlite3.h>

#include "proto/presence.h"

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

std::unique_ptr<Store> Store::Open(const Options& options, std::string* error) {
  std::unique_ptr<Store> store(new Store());
  store->options_ = options;
  int rc = sqlite3_open_v2(options.path.c_str(), &store->db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    *error = "sqlite3_open " + options.path + ": " +
             (store->db_ ? sqlite3_errmsg(store->db_) : sqlite3_errstr(rc));
    return nullptr;
  }
  sqlite3_extended_result_codes(store->db_, 1);
  // Start-up may wait for another server that is creating the schema right now.
  sqlite3_busy_timeout(store->db_, 5000);
  std::string pragmas = std::string("PRAGMA journal_mode=WAL; PRAGMA synchronous=") +
                        (options.sync_full ? "FULL" : "NORMAL") + "; PRAGMA foreign_keys=OFF;" +
                        " PRAGMA cache_size=-" + std::to_string(options.cache_mib * 1024) + ";";
  char* msg = nullptr;
  for (const std::string& sql : {pragmas, std::string("BEGIN IMMEDIATE;") + kSchema + "COMMIT;"}) {
    if (sqlite3_exec(store->db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      *error = "open " + options.path + ": " + (msg ? msg : sqlite3_errmsg(store->db_));
      sqlite3_free(msg);
      return nullptr;
    }
  }
  // From here on the loop never waits inside SQLite: a lock held elsewhere is kBusy.
  sqlite3_busy_timeout(store->db_, 0);
  if (!store->Prepare(error)) return nullptr;
  return store;
}

Store::~Store() {
  for (sqlite3_stmt* stmt :
       {begin_, begin_read_, commit_, rollback_, sync_normal_, sync_full_, user_exists_, user_count_,
        insert_user_, buddy_exists_, buddy_count_, insert_buddy_, delete_buddy_, put_presence_,
        buddy_status_}) {
    sqlite3_finalize(stmt);  // a no-op on nullptr
  }
  if (db_ != nullptr) sqlite3_close(db_);
}

bool Store::Prepare(std::string* error) {
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

Store::Status Store::Check(int rc, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return Status::kOk;
  if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) return Status::kBusy;
  last_error_ = std::string(what) + ": " + sqlite3_errstr(rc) + " (" + sqlite3_errmsg(db_) + ")";
  return Status::kError;
}

Store::Status Store::Exec(sqlite3_stmt* stmt, const char* what) {
  ResetOnExit reset(stmt);
  return Check(sqlite3_step(stmt), what);
}

// Reads never run inside a write transaction (writes open and close theirs within one
// Flush), so an open transaction outside a write is the reads' own.
Store::Status Store::BeginReads() {
  if (!sqlite3_get_autocommit(db_)) return Status::kOk;
  return Exec(begin_read_, "BEGIN");
}

void Store::EndReads() {
  // Ending a read-only transaction releases its snapshot; it has nothing to fail on.
  if (!in_transaction_ && !sqlite3_get_autocommit(db_)) Exec(commit_, "COMMIT");
}

Store::Status Store::BeginWrite(bool durable) {
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
  } else if (relaxed_sync_) {
    Exec(sync_full_, "PRAGMA synchronous");
    relaxed_sync_ = false;
  }
  return s;
}

Store::Status Store::Commit() {
  Status s = Exec(commit_, "COMMIT");
  if (s == Status::kOk) {
    in_transaction_ = false;
    if (relaxed_sync_) {
      Exec(sync_full_, "PRAGMA synchronous");
      relaxed_sync_ = false;
    }
  }
  return s;
}

void Store::Rollback() {
  if (!sqlite3_get_autocommit(db_)) Exec(rollback_, "ROLLBACK");
  in_transaction_ = false;
  if (relaxed_sync_) {
    Exec(sync_full_, "PRAGMA synchronous");
    relaxed_sync_ = false;
  }
}

Store::Status Store::UserExists(std::string_view user, bool* exists) {
  ResetOnExit reset(user_exists_);
  BindText(user_exists_, 1, user);
  int rc = sqlite3_step(user_exists_);
  *exists = rc == SQLITE_ROW;
  return Check(rc, "find user");
}

Store::Status Store::Apply(const proto::Request& request, proto::Reply* reply) {
  switch (request.verb) {
    case proto::Verb::kReg: return Register(request.user, reply);
    case proto::Verb::kAdd: return AddBuddy(request.user, request.buddy, reply);
    case proto::Verb::kDel: return DelBuddy(request.user, request.buddy, reply);
  }
  return Status::kError;
}

Store::Status Store::Register(std::string_view user, proto::Reply* reply) {
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

Store::Status Store::AddBuddy(std::string_view user, std::string_view buddy,
                              proto::Reply* reply) {
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

Store::Status Store::DelBuddy(std::string_view user, std::string_view buddy,
                              proto::Reply* reply) {
  bool exists = false;
  if (Status s = UserExists(user, &exists); s != Status::kOk) return s;
  if (!exists) {
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

Store::Status Store::PutPresence(std::string_view user, bool online, std::string_view ip,
                                 uint16_t port, int64_t updated_ms, bool* written) {
  ResetOnExit reset(put_presence_);
  BindText(put_presence_, 1, user);
  sqlite3_bind_int(put_presence_, 2, online ? 1 : 0);
  BindText(put_presence_, 3, ip);
  sqlite3_bind_int(put_presence_, 4, port);
  sqlite3_bind_int64(put_presence_, 5, updated_ms);
  Status s = Check(sqlite3_step(put_presence_), "put presence");
  *written = s == Status::kOk && sqlite3_changes(db_) > 0;
  return s;
}

Store::Status Store::AppendBuddyLines(std::string_view user, int64_t now_ms, int64_t ttl_ms,
                                      const PresenceMap& newer, std::string* out,
                                      bool* exists) {
  if (Status s = BeginReads(); s != Status::kOk) return s;
  size_t rows = 0;
  {
    ResetOnExit reset(buddy_status_);
    BindText(buddy_status_, 1, user);
    int rc;
    while ((rc = sqlite3_step(buddy_status_)) == SQLITE_ROW) {
      ++rows;
      auto text = [&](int col) {
        const unsigned char* p = sqlite3_column_text(buddy_status_, col);
        return std::string_view(p ? reinterpret_cast<const char*>(p) : "",
                                static_cast<size_t>(sqlite3_column_bytes(buddy_status_, col)));
      };
      std::string_view buddy = text(0);
      auto pending = newer.empty() ? newer.end() : newer.find(buddy);
      bool online;
      int64_t updated_ms;
      std::string_view ip;
      uint16_t port;
      if (pending != newer.end()) {
        const Presence& p = pending->second;
        online = p.online;
        updated_ms = p.updated_ms;
        ip = p.ip;
        port = p.port;
      } else {
        online = sqlite3_column_type(buddy_status_, 1) != SQLITE_NULL &&
                 sqlite3_column_int(buddy_status_, 1) != 0;
        updated_ms = sqlite3_column_int64(buddy_status_, 4);
        ip = text(2);
        port = static_cast<uint16_t>(sqlite3_column_int(buddy_status_, 3));
      }
      proto::AppendBuddyLine(out, buddy, online && updated_ms > now_ms - ttl_ms, ip, port);
    }
    if (Status s = Check(rc, "read buddies"); s != Status::kOk) return s;
  }
  if (rows > 0) {
    *exists = true;  // only a registered user can have had ADD succeed
    return Status::kOk;
  }
  return UserExists(user, exists);
}

}  // namespace im::server
