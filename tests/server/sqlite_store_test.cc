// The SQLite engine on a real temporary file: every reply of every account operation,
// presence rows and the newest-wins rule, sharing between two connections, the read
// snapshot per loop iteration, and a lock held elsewhere (retried without blocking,
// then given up at the batch's deadline with nothing applied), and the purge of expired
// presence in bounded steps.
#include "server/sqlite_store.h"

#include <sqlite3.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/support/process.h"
#include "tests/support/test_loop.h"

namespace im::server {
namespace {

using proto::Reply;
using proto::Request;
using proto::Verb;

class Sink : public Store::WriteSink {
 public:
  void OnBatchWritten(WriteBatch& batch) override {
    done = true;
    status = batch.status;
    replies = batch.replies;
    written = batch.presence_written;
  }
  bool done = false;
  StoreStatus status;
  std::vector<Reply> replies;
  uint64_t written = 0;
};

class Read : public BuddyQuery {
 public:
  void OnBuddiesRead() override { done = true; }
  bool done = false;
};

// The wall clock the tests' batches are written at.
constexpr int64_t kNowMs = 10000;

// The purge's wall clock: well past kNowMs, so the times below are plainly old or fresh.
constexpr int64_t kPurgeNowMs = 100000000;
constexpr int64_t kTtlMs = 30000;
int64_t PurgeClock() { return kPurgeNowMs; }

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> Open(int64_t max_users = 0, int64_t presence_ttl_ms = 0, int mmap_mib = 0) {
    std::string error;
    SqliteStore::Options o;
    o.path = dir_.File("im.db");
    o.max_users = max_users;
    o.presence_ttl_ms = presence_ttl_ms;
    o.mmap_mib = mmap_mib;
    o.wall_clock_ms = PurgeClock;
    auto store = SqliteStore::Open(loop_.get(), o, &error);
    EXPECT_TRUE(store) << error;
    return store;  // closes itself when the test drops it
  }
  uint64_t Now() { return uv_now(loop_.get()); }

  // A batch of one request; SQLite answers it inside Write when nothing holds the lock.
  Reply Apply(Store& store, Verb verb, const std::string& user, const std::string& buddy = "") {
    WriteBatch batch;
    batch.requests.push_back(Request{verb, user, buddy});
    batch.deadline_ms = Now() + 1000;
    Sink sink;
    store.Write(&batch, sink);
    EXPECT_TRUE(sink.done) << "completes inline";
    EXPECT_TRUE(sink.status.ok()) << sink.status.message();
    return sink.replies.empty() ? Reply::kServerError : sink.replies[0];
  }

  // One presence row, as the group commit writes it behind; returns whether it was written.
  bool Put(Store& store, const std::string& user, bool online, uint16_t port, int64_t at) {
    WriteBatch batch;
    batch.presence[user] = Presence{online, "127.0.0.1", port, at};
    batch.now_ms = kNowMs;
    batch.deadline_ms = Now() + 1000;
    Sink sink;
    store.Write(&batch, sink);
    EXPECT_TRUE(sink.done && sink.status.ok());
    return sink.written == 1;
  }

  // The rows of a GET, one "id" or "id:online:port@ms" each, then ends the iteration's
  // read transaction as the server's loop does.
  std::string Get(Store& store, const std::string& user, bool* exists, bool end_reads = true) {
    Read read;
    read.user = user;
    store.ReadBuddies(&read);
    EXPECT_TRUE(read.done);
    EXPECT_TRUE(read.status.ok()) << read.status.message();
    *exists = read.exists;
    std::string out;
    for (const BuddyRow& row : read.rows) {
      if (!out.empty()) out += ' ';
      out += row.id;
      if (row.has_presence) {
        out += ":" + std::string(row.presence.online ? "on" : "off") + ":" + std::to_string(row.presence.port) +
               "@" + std::to_string(row.presence.updated_ms);
      }
    }
    if (end_reads) loop_.Iterate();
    return out;
  }

  // The one number a query on the file gives, through a connection of its own.
  int64_t Query(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(dir_.File("im.db").c_str(), &db), SQLITE_OK);
    int64_t value = -1;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), [](void* out, int, char** v, char**) {
      *static_cast<int64_t*>(out) = v[0] ? std::atoll(v[0]) : 0;
      return 0;
    }, &value, nullptr), SQLITE_OK) << sql;
    sqlite3_close(db);
    return value;
  }

  // `n` presence rows last written an hour before the purge's clock, as a file that never
  // purged holds for every account once seen.
  void InsertStalePresence(int n) {
    Query("WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c WHERE x < " + std::to_string(n - 1) +
          ") INSERT INTO presence(user, online, ip, port, updated_ms) "
          "SELECT 'stale' || x, 1, '127.0.0.1', 4000, " + std::to_string(kPurgeNowMs - 3600000) + " FROM c; "
          "SELECT count(*) FROM presence");
  }

  test::TestLoop loop_;
  test::TempDir dir_;
};

TEST_F(SqliteStoreTest, Register) {
  auto store = Open();
  EXPECT_EQ(Apply(*store, Verb::kReg, "alice"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kReg, "alice"), Reply::kAlreadyRegistered);
  EXPECT_EQ(Apply(*store, Verb::kReg, "Alice"), Reply::kOk);  // ids are case-sensitive
}

TEST_F(SqliteStoreTest, RegistrationClosesAtMaxUsers) {
  auto store = Open(/*max_users=*/2);
  EXPECT_EQ(Apply(*store, Verb::kReg, "a"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kReg, "b"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kReg, "c"), Reply::kRegistrationClosed);
  EXPECT_EQ(Apply(*store, Verb::kReg, "a"), Reply::kAlreadyRegistered);  // log-in still works
}

TEST_F(SqliteStoreTest, AddAndDel) {
  auto store = Open();
  Apply(*store, Verb::kReg, "alice");
  EXPECT_EQ(Apply(*store, Verb::kAdd, "alice", "bob"), Reply::kNoSuchUser);
  EXPECT_EQ(Apply(*store, Verb::kAdd, "bob", "alice"), Reply::kNoSuchUser);
  Apply(*store, Verb::kReg, "bob");
  EXPECT_EQ(Apply(*store, Verb::kAdd, "alice", "bob"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kAdd, "alice", "bob"), Reply::kAlreadyBuddy);
  EXPECT_EQ(Apply(*store, Verb::kAdd, "alice", "alice"), Reply::kNoSuchUser);
  EXPECT_EQ(Apply(*store, Verb::kDel, "bob", "alice"), Reply::kNotABuddy);  // one-way lists
  EXPECT_EQ(Apply(*store, Verb::kDel, "alice", "bob"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kDel, "alice", "bob"), Reply::kNotABuddy);
  EXPECT_EQ(Apply(*store, Verb::kDel, "carol", "bob"), Reply::kNoSuchUser);
  EXPECT_EQ(Apply(*store, Verb::kDel, "alice", "nobody"), Reply::kNoSuchUser);  // like ADD
}

TEST_F(SqliteStoreTest, BuddyListIsBoundedWithinOneBatch) {
  auto store = Open();
  WriteBatch batch;
  batch.requests.push_back(Request{Verb::kReg, "owner", ""});
  for (int i = 0; i <= proto::kMaxBuddies; ++i) batch.requests.push_back(Request{Verb::kReg, "u" + std::to_string(i), ""});
  for (int i = 0; i <= proto::kMaxBuddies; ++i) batch.requests.push_back(Request{Verb::kAdd, "owner", "u" + std::to_string(i)});
  batch.deadline_ms = Now() + 5000;
  Sink sink;
  store->Write(&batch, sink);
  ASSERT_TRUE(sink.done && sink.status.ok());
  EXPECT_EQ(sink.replies[sink.replies.size() - 2], Reply::kOk);
  EXPECT_EQ(sink.replies.back(), Reply::kBuddyListFull);
}

TEST_F(SqliteStoreTest, GetListsBuddiesSortedWithTheirStoredPresence) {
  auto store = Open();
  for (const char* id : {"me", "zed", "amy", "Bob"}) Apply(*store, Verb::kReg, id);
  for (const char* id : {"zed", "amy", "Bob"}) Apply(*store, Verb::kAdd, "me", id);
  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists), "Bob amy zed");  // byte order
  EXPECT_TRUE(exists);
  EXPECT_TRUE(Put(*store, "amy", true, 4000, 9500));
  EXPECT_EQ(Get(*store, "me", &exists), "Bob amy:on:4000@9500 zed");
}

TEST_F(SqliteStoreTest, AMappedFileStillSeesWhatAnotherServerWrites) {
  auto mapped = Open(0, 0, /*mmap_mib=*/8);
  EXPECT_EQ(mapped->TEST_MmapSize(), int64_t{8} << 20);
  EXPECT_NE(mapped->Describe().find("mmap 8 MiB"), std::string::npos) << mapped->Describe();
  auto other = Open();
  EXPECT_EQ(other->TEST_MmapSize(), 0) << "off unless asked for";
  for (int i = 0; i < 200; ++i) Apply(*other, Verb::kReg, "u" + std::to_string(i));
  Apply(*other, Verb::kAdd, "u1", "u2");
  bool exists = false;
  EXPECT_EQ(Get(*mapped, "u1", &exists), "u2");
  Apply(*mapped, Verb::kAdd, "u1", "u3");
  Apply(*other, Verb::kDel, "u1", "u2");
  EXPECT_TRUE(Put(*other, "u3", true, 4000, 9500));
  EXPECT_EQ(Get(*mapped, "u1", &exists), "u3:on:4000@9500") << "the other server's writes, through the map";
  EXPECT_EQ(Get(*other, "u1", &exists), "u3:on:4000@9500");
}

TEST_F(SqliteStoreTest, TheNewestSetWinsWhateverTheCommitOrder) {
  auto store = Open();
  for (const char* id : {"me", "amy"}) Apply(*store, Verb::kReg, id);
  Apply(*store, Verb::kAdd, "me", "amy");
  EXPECT_TRUE(Put(*store, "amy", true, 4000, /*at=*/9900));
  // Another server's batch, written later, holding an older heartbeat: not applied.
  EXPECT_FALSE(Put(*store, "amy", false, 0, /*at=*/9500));
  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists), "amy:on:4000@9900");
}

TEST_F(SqliteStoreTest, GetOfEmptyListAndUnknownUser) {
  auto store = Open();
  Apply(*store, Verb::kReg, "loner");
  bool exists = false;
  EXPECT_EQ(Get(*store, "loner", &exists), "");
  EXPECT_TRUE(exists);
  EXPECT_EQ(Get(*store, "ghost", &exists), "");
  EXPECT_FALSE(exists);
}

TEST_F(SqliteStoreTest, PresenceOfUnregisteredUserIsNotWritten) {
  auto store = Open();
  Apply(*store, Verb::kReg, "me");
  EXPECT_FALSE(Put(*store, "ghost", true, 1, 9999));
  Apply(*store, Verb::kReg, "ghost");
  Apply(*store, Verb::kAdd, "me", "ghost");
  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists), "ghost");
}

TEST_F(SqliteStoreTest, AFailingRequestRollsBackTheWholeBatch) {
  auto store = Open();
  // A batch whose second statement fails: the presence row for a user that the same
  // batch registers must not stay behind. A failing statement is provoked by a trigger.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("im.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TRIGGER boom BEFORE INSERT ON buddies BEGIN SELECT RAISE(FAIL, 'disk on fire'); END;",
                         nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  WriteBatch batch;
  batch.requests = {Request{Verb::kReg, "a", ""}, Request{Verb::kReg, "b", ""}, Request{Verb::kAdd, "a", "b"}};
  batch.deadline_ms = Now() + 1000;
  Sink sink;
  store->Write(&batch, sink);
  ASSERT_TRUE(sink.done);
  EXPECT_FALSE(sink.status.ok());
  EXPECT_NE(sink.status.message().find("disk on fire"), std::string::npos) << sink.status.message();
  EXPECT_TRUE(sink.replies.empty());
  bool exists = true;
  Get(*store, "a", &exists);
  EXPECT_FALSE(exists) << "nothing of the failed batch was applied";
}

TEST_F(SqliteStoreTest, TwoConnectionsShareOneFile) {
  auto a = Open();
  auto b = Open();
  EXPECT_EQ(Apply(*a, Verb::kReg, "alice"), Reply::kOk);
  EXPECT_EQ(Apply(*b, Verb::kReg, "alice"), Reply::kAlreadyRegistered);
  EXPECT_EQ(Apply(*b, Verb::kReg, "bob"), Reply::kOk);
  EXPECT_EQ(Apply(*a, Verb::kAdd, "alice", "bob"), Reply::kOk);
  Put(*a, "bob", true, 7, 9999);
  bool exists = false;
  EXPECT_EQ(Get(*b, "alice", &exists), "bob:on:7@9999");
}

TEST_F(SqliteStoreTest, ReadsShareOneSnapshotUntilTheIterationEndsAndAWriteEndsThem) {
  auto a = Open();
  auto b = Open();
  for (const char* id : {"alice", "bob"}) Apply(*a, Verb::kReg, id);
  Apply(*a, Verb::kAdd, "alice", "bob");
  bool exists = false;
  EXPECT_EQ(Get(*b, "alice", &exists, /*end_reads=*/false), "bob");
  Put(*a, "bob", true, 7, 9999);  // committed by the other connection meanwhile
  EXPECT_EQ(Get(*b, "alice", &exists, false), "bob") << "same iteration, same snapshot";
  loop_.Iterate();  // the check handle ends the read transaction
  EXPECT_EQ(Get(*b, "alice", &exists, false), "bob:on:7@9999");
  EXPECT_EQ(Apply(*b, Verb::kReg, "carol"), Reply::kOk);  // a write ends the open read first
  EXPECT_EQ(Apply(*a, Verb::kReg, "carol"), Reply::kAlreadyRegistered);
}

class Locker {
 public:
  explicit Locker(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  }
  void Release() {
    if (db_ == nullptr) return;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }
  ~Locker() { Release(); }

 private:
  sqlite3* db_ = nullptr;
};

TEST_F(SqliteStoreTest, ALockHeldElsewhereIsRetriedWithoutBlockingWhileReadsGoOn) {
  auto store = Open();
  Apply(*store, Verb::kReg, "alice");
  Locker other(dir_.File("im.db"));
  WriteBatch batch;
  batch.requests.push_back(Request{Verb::kReg, "bob", ""});
  batch.deadline_ms = Now() + 5000;
  Sink sink;
  auto start = std::chrono::steady_clock::now();
  store->Write(&batch, sink);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50)) << "never waits inside";
  EXPECT_FALSE(sink.done) << "busy: it waits for a retry";
  bool exists = false;
  EXPECT_EQ(Get(*store, "alice", &exists), "");  // WAL readers don't wait for the writer
  EXPECT_TRUE(exists);
  for (int i = 0; i < 5; ++i) uv_run(loop_.get(), UV_RUN_ONCE);  // a few backoff retries
  EXPECT_FALSE(sink.done);
  other.Release();
  while (!sink.done) uv_run(loop_.get(), UV_RUN_ONCE);
  EXPECT_TRUE(sink.status.ok());
  EXPECT_EQ(sink.replies[0], Reply::kOk);
  EXPECT_NE(store->Stats().find("busy retries"), std::string::npos);
}

TEST_F(SqliteStoreTest, ALockHeldPastTheDeadlineGivesUpWithNothingApplied) {
  auto store = Open();
  Locker other(dir_.File("im.db"));
  WriteBatch batch;
  batch.requests.push_back(Request{Verb::kReg, "bob", ""});
  batch.deadline_ms = Now() + 100;
  Sink sink;
  store->Write(&batch, sink);
  auto start = std::chrono::steady_clock::now();
  while (!sink.done) uv_run(loop_.get(), UV_RUN_ONCE);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1000));
  EXPECT_EQ(sink.status.code(), StoreStatus::Code::kBusy);
  other.Release();
  EXPECT_EQ(Apply(*store, Verb::kReg, "bob"), Reply::kOk) << "the failed attempt left nothing";
}

// Applies one StoreRequest as a batch of one at kNowMs.
Reply ApplyOp(Store& store, uv_loop_t* loop, StoreRequest op) {
  WriteBatch batch;
  batch.requests.push_back(std::move(op));
  batch.now_ms = kNowMs;
  batch.deadline_ms = uv_now(loop) + 1000;
  Sink sink;
  store.Write(&batch, sink);
  EXPECT_TRUE(sink.done && sink.status.ok()) << sink.status.message();
  return sink.replies.empty() ? Reply::kServerError : sink.replies[0];
}

StoreRequest NewProtected(const std::string& user, const std::string& hash, const std::string& session) {
  StoreRequest op(Request{Verb::kReg, user});
  op.password_hash = hash;
  op.new_session = session;
  op.session_expires_ms = kNowMs + 60000;
  return op;
}

StoreRequest Proven(Verb verb, const std::string& user, const std::string& buddy, const std::string& session,
                    uint64_t counter) {
  StoreRequest op(Request{verb, user, buddy});
  op.proof_session = session;
  op.proof_counter = counter;
  return op;
}

class SessionRead : public SessionQuery {
 public:
  void OnSessionRead() override {}
};

TEST_F(SqliteStoreTest, ProtectedAccountsAndTheirSessions) {
  auto store = Open();
  EXPECT_EQ(ApplyOp(*store, loop_.get(), NewProtected("alice", "$argon2id$fake", "sessionAAAAAAAAAAAAAAA")), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kReg, "alice"), Reply::kPasswordRequired) << "a bare REG is not a log-in";
  EXPECT_EQ(ApplyOp(*store, loop_.get(), NewProtected("alice", "$other", "sessionBBBBBBBBBBBBBBB")),
            Reply::kAlreadyRegistered);
  Apply(*store, Verb::kReg, "old");
  EXPECT_EQ(ApplyOp(*store, loop_.get(), NewProtected("old", "$x", "sessionCCCCCCCCCCCCCCC")), Reply::kNotProtected);
  // A log-in succeeds only against the hash the server verified.
  StoreRequest login = NewProtected("alice", "$argon2id$fake", "sessionDDDDDDDDDDDDDDD");
  login.login = true;
  EXPECT_EQ(ApplyOp(*store, loop_.get(), login), Reply::kLoggedIn);
  login.password_hash = "$changed";
  EXPECT_EQ(ApplyOp(*store, loop_.get(), login), Reply::kWrongPassword);
  SessionRead read;
  read.session = "sessionDDDDDDDDDDDDDDD";
  store->ReadSession(&read);
  ASSERT_TRUE(read.status.ok() && read.exists);
  EXPECT_EQ(read.user, "alice");
  EXPECT_EQ(read.expires_ms, kNowMs + 60000);
}

TEST_F(SqliteStoreTest, AProtectedAccountChangesOnlyWithAFreshCounterOfItsOwnSession) {
  auto store = Open();
  ApplyOp(*store, loop_.get(), NewProtected("alice", "$h", "sessionAAAAAAAAAAAAAAA"));
  ApplyOp(*store, loop_.get(), NewProtected("mallory", "$h", "sessionMMMMMMMMMMMMMMM"));
  Apply(*store, Verb::kReg, "bob");
  EXPECT_EQ(Apply(*store, Verb::kAdd, "alice", "bob"), Reply::kUnauthorized) << "no proof";
  EXPECT_EQ(ApplyOp(*store, loop_.get(), Proven(Verb::kAdd, "alice", "bob", "sessionMMMMMMMMMMMMMMM", 1)),
            Reply::kUnauthorized) << "someone else's session";
  EXPECT_EQ(ApplyOp(*store, loop_.get(), Proven(Verb::kAdd, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 5)), Reply::kOk);
  EXPECT_EQ(ApplyOp(*store, loop_.get(), Proven(Verb::kDel, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 5)),
            Reply::kUnauthorized) << "a replayed counter";
  EXPECT_EQ(ApplyOp(*store, loop_.get(), Proven(Verb::kDel, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 4)),
            Reply::kUnauthorized) << "an older counter";
  EXPECT_EQ(ApplyOp(*store, loop_.get(), Proven(Verb::kDel, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 6)), Reply::kOk);
  bool exists = false;
  EXPECT_EQ(Get(*store, "alice", &exists), "");
  // Old-style accounts need no proof.
  EXPECT_EQ(Apply(*store, Verb::kReg, "carol"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kAdd, "carol", "alice"), Reply::kOk);
}

TEST_F(SqliteStoreTest, AnExpiredSessionProvesNothing) {
  auto store = Open();
  StoreRequest op = NewProtected("alice", "$h", "sessionAAAAAAAAAAAAAAA");
  op.session_expires_ms = kNowMs - 1;
  ApplyOp(*store, loop_.get(), op);
  Apply(*store, Verb::kReg, "bob");
  EXPECT_EQ(ApplyOp(*store, loop_.get(), Proven(Verb::kAdd, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 1)),
            Reply::kUnauthorized);
}

TEST_F(SqliteStoreTest, OnlyProvenPresenceUpdatesAProtectedAccount) {
  auto store = Open();
  ApplyOp(*store, loop_.get(), NewProtected("alice", "$h", "sessionAAAAAAAAAAAAAAA"));
  Apply(*store, Verb::kReg, "bob");
  Apply(*store, Verb::kAdd, "bob", "alice");
  EXPECT_FALSE(Put(*store, "alice", true, 4444, 9000)) << "a stranger's SET";
  WriteBatch batch;
  batch.presence["alice"] = Presence{true, "127.0.0.1", 5555, 9100, /*proven=*/true};
  batch.session_counters["sessionAAAAAAAAAAAAAAA"] = 17;
  batch.now_ms = kNowMs;
  batch.deadline_ms = Now() + 1000;
  Sink sink;
  store->Write(&batch, sink);
  EXPECT_EQ(sink.written, 1u);
  bool exists = false;
  EXPECT_EQ(Get(*store, "bob", &exists), "alice:on:5555@9100");
  SessionRead read;
  read.session = "sessionAAAAAAAAAAAAAAA";
  store->ReadSession(&read);
  EXPECT_EQ(read.datagram_counter, 17u);
}

TEST_F(SqliteStoreTest, APresenceRowStampedInTheFutureDoesNotBlockLaterSets) {
  auto store = Open();
  for (const char* id : {"me", "amy"}) Apply(*store, Verb::kReg, id);
  Apply(*store, Verb::kAdd, "me", "amy");
  EXPECT_TRUE(Put(*store, "amy", true, 4000, kNowMs + 3600000));  // a server whose clock runs an hour ahead
  EXPECT_TRUE(Put(*store, "amy", false, 0, kNowMs)) << "her OFFLINE, stamped now, still wins";
  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists), "amy:off:0@" + std::to_string(kNowMs));
}

TEST_F(SqliteStoreTest, TheSharedSecretIsTheFirstServersCandidate) {
  class Secret : public SecretQuery {
   public:
    void OnSecretRead() override {}
  };
  auto a = Open();
  auto b = Open();
  Secret first, second;
  // Random bytes hold NULs: the secret is stored as bytes, not as text.
  first.candidate = std::string("candidate\0one", 13);
  second.candidate = "candidate-two";
  a->ReadSecret(&first);
  b->ReadSecret(&second);
  EXPECT_EQ(first.secret, std::string("candidate\0one", 13));
  EXPECT_EQ(second.secret, std::string("candidate\0one", 13));
}

TEST_F(SqliteStoreTest, AVersion1FileIsMigratedWithEveryAccountUnprotected) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("im.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE users(id TEXT PRIMARY KEY NOT NULL) WITHOUT ROWID;"
                         "CREATE TABLE buddies(user TEXT NOT NULL, buddy TEXT NOT NULL, PRIMARY KEY (user, buddy)) WITHOUT ROWID;"
                         "INSERT INTO users VALUES ('old1'), ('old2'); INSERT INTO buddies VALUES ('old1', 'old2');"
                         "PRAGMA user_version = 1;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = Open();
  EXPECT_EQ(Apply(*store, Verb::kReg, "old1"), Reply::kAlreadyRegistered);
  bool exists = false;
  EXPECT_EQ(Get(*store, "old1", &exists), "old2");
  EXPECT_EQ(Apply(*store, Verb::kDel, "old1", "old2"), Reply::kOk) << "no proof needed";
}

// A GET learns the owner's protection from the owner's own buddies rows (copied there at
// ADD), and from users only for an empty list; a version 2 file gains it for every row.
TEST_F(SqliteStoreTest, AGetKnowsItsOwnersProtectionAndAVersion2FileIsMigrated) {
  auto user_protected = [&](Store& store, const std::string& user) {
    Read read;
    read.user = user;
    store.ReadBuddies(&read);
    EXPECT_TRUE(read.done && read.status.ok() && read.exists);
    loop_.Iterate();
    return read.user_protected;
  };
  {
    auto store = Open();
    ApplyOp(*store, loop_.get(), NewProtected("alice", "$h", "sessionAAAAAAAAAAAAAAA"));
    ApplyOp(*store, loop_.get(), NewProtected("dave", "$h", "sessionDDDDDDDDDDDDDDD"));
    Apply(*store, Verb::kReg, "bob");
    EXPECT_EQ(ApplyOp(*store, loop_.get(), Proven(Verb::kAdd, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 1)), Reply::kOk);
    EXPECT_EQ(Apply(*store, Verb::kAdd, "bob", "alice"), Reply::kOk);
    EXPECT_TRUE(user_protected(*store, "alice"));
    EXPECT_FALSE(user_protected(*store, "bob"));
    EXPECT_TRUE(user_protected(*store, "dave")) << "no buddies: from users";
  }
  // The same file as version 2 wrote it: no user_protected column.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("im.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE buddies DROP COLUMN user_protected; PRAGMA user_version = 2;", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = Open();
  EXPECT_TRUE(user_protected(*store, "alice"));
  EXPECT_FALSE(user_protected(*store, "bob"));
}

// A chat key is presence: written with it, read back with it; a version 3 file (no
// chat_key column) keeps its rows and gains the column.
TEST_F(SqliteStoreTest, AChatKeyIsKeptWithPresenceAndAVersion3FileIsMigrated) {
  auto key_of_bob = [&](Store& store) {
    Read read;
    read.user = "alice";
    store.ReadBuddies(&read);
    EXPECT_TRUE(read.done && read.status.ok() && read.exists);
    loop_.Iterate();
    return read.rows.size() == 1 && read.rows[0].has_presence ? read.rows[0].presence.chat_key : "(none)";
  };
  {
    auto store = Open();
    Apply(*store, Verb::kReg, "alice");
    Apply(*store, Verb::kReg, "bob");
    Apply(*store, Verb::kAdd, "alice", "bob");
    EXPECT_TRUE(Put(*store, "bob", true, 7000, 1000));
    EXPECT_EQ(key_of_bob(*store), "");
    WriteBatch batch;
    batch.presence["bob"] = Presence{true, "127.0.0.1", 7001, 2000, false, "KKKKKKKKKKKKKKKKKKKKKK"};
    batch.now_ms = kNowMs;
    batch.deadline_ms = Now() + 1000;
    Sink sink;
    store->Write(&batch, sink);
    ASSERT_TRUE(sink.done && sink.status.ok() && sink.written == 1);
    EXPECT_EQ(key_of_bob(*store), "KKKKKKKKKKKKKKKKKKKKKK");
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("im.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE presence DROP COLUMN chat_key; PRAGMA user_version = 3;", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  {
    auto store = Open();
    EXPECT_EQ(key_of_bob(*store), "") << "the row survives, without a key";
    EXPECT_TRUE(Put(*store, "bob", true, 7002, 3000));
  }
  ASSERT_EQ(sqlite3_open(dir_.File("im.db").c_str(), &db), SQLITE_OK);
  int version = 0;
  sqlite3_exec(db, "PRAGMA user_version", [](void* out, int, char** v, char**) {
    *static_cast<int*>(out) = atoi(v[0]);
    return 0;
  }, &version, nullptr);
  sqlite3_close(db);
  EXPECT_EQ(version, 5);
  EXPECT_EQ(Query("SELECT count(*) FROM sqlite_schema WHERE name = 'presence_by_age'"), 1)
      << "an older file gains the purge's index";
}

// Older than the TTL goes, ONLINE (timed out) or OFFLINE alike; within it stays, and a
// GET still shows the online buddy. Each step deletes at most PresencePurge::kRows rows.
TEST_F(SqliteStoreTest, ExpiredPresenceIsPurgedInBoundedStepsAndFreshIsKept) {
  auto store = Open(0, kTtlMs);
  for (const char* id : {"me", "amy", "old", "gone", "away"}) Apply(*store, Verb::kReg, id);
  for (const char* id : {"amy", "old", "gone", "away"}) Apply(*store, Verb::kAdd, "me", id);
  EXPECT_TRUE(Put(*store, "amy", true, 5001, kPurgeNowMs - 1000));    // online, fresh
  EXPECT_TRUE(Put(*store, "old", true, 5002, kPurgeNowMs - 31000));   // online, timed out
  EXPECT_TRUE(Put(*store, "gone", false, 0, kPurgeNowMs - 40000));    // offline, expired
  EXPECT_TRUE(Put(*store, "away", false, 0, kPurgeNowMs - 5000));     // offline, within the TTL
  constexpr int kRows = PresencePurge::kRows;
  InsertStalePresence(2 * kRows + 100);
  ASSERT_EQ(Query("SELECT count(*) FROM presence"), 2 * kRows + 104);

  EXPECT_EQ(store->TEST_PurgePresenceStep(), kRows);
  EXPECT_EQ(Query("SELECT count(*) FROM presence"), kRows + 104) << "one step, one bounded transaction";
  EXPECT_EQ(store->TEST_PurgePresenceStep(), kRows);
  EXPECT_EQ(store->TEST_PurgePresenceStep(), 102);
  EXPECT_EQ(store->TEST_PurgePresenceStep(), 0);
  EXPECT_EQ(Query("SELECT count(*) FROM presence WHERE user IN ('amy', 'away')"), 2);
  EXPECT_EQ(Query("SELECT count(*) FROM presence"), 2);

  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists),
            "amy:on:5001@" + std::to_string(kPurgeNowMs - 1000) + " away:off:0@" + std::to_string(kPurgeNowMs - 5000) +
                " gone old");
  EXPECT_TRUE(Put(*store, "old", true, 5003, kPurgeNowMs)) << "a purged user's next SET is stored again";
  EXPECT_NE(store->Stats().find("presence purged " + std::to_string(2 * kRows + 102)), std::string::npos)
      << store->Stats();
}

// The store's own timer works through a backlog (a start on a file that never purged)
// in steps with the loop free in between; without a TTL nothing is purged.
TEST_F(SqliteStoreTest, ThePurgeTimerClearsABacklogByItself) {
  {
    auto keeps = Open();
    InsertStalePresence(2500);
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (std::chrono::steady_clock::now() < until) {
      loop_.Iterate();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(Query("SELECT count(*) FROM presence"), 2500) << "no TTL, no purge";
  }
  auto store = Open(0, kTtlMs);
  Apply(*store, Verb::kReg, "amy");
  EXPECT_TRUE(Put(*store, "amy", true, 5001, kPurgeNowMs - 1000));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (Query("SELECT count(*) FROM presence") > 1 && std::chrono::steady_clock::now() < deadline) {
    loop_.Iterate();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(Query("SELECT count(*) FROM presence"), 1);
  EXPECT_EQ(Query("SELECT count(*) FROM presence WHERE user = 'amy'"), 1);
}

TEST_F(SqliteStoreTest, UserCountSurvivesReopenAndBulkInsert) {
  {
    auto store = Open(3);
    Apply(*store, Verb::kReg, "a");
  }
  // A bulk seed straight into the file is counted too (the trigger keeps the count).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("im.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO users(id) VALUES ('b'), ('c')", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = Open(3);
  EXPECT_EQ(Apply(*store, Verb::kReg, "d"), Reply::kRegistrationClosed);
}

TEST_F(SqliteStoreTest, OpenFailsClearlyOnABadPath) {
  std::string error;
  SqliteStore::Options o;
  o.path = dir_.File("no/such/dir/im.db");
  auto store = SqliteStore::Open(loop_.get(), o, &error);
  EXPECT_FALSE(store);
  EXPECT_NE(error.find("no/such/dir"), std::string::npos) << error;
}

TEST_F(SqliteStoreTest, EngineOptionsAreCheckedByTheEngine) {
  SqliteStore::Options o;
  std::string error;
  EXPECT_TRUE(SqliteStore::ParseOptions("x.db", {{"sync", "normal"}, {"cache_mib", "64"}}, 0, &o, &error));
  EXPECT_FALSE(o.sync_full);
  EXPECT_EQ(o.cache_mib, 64);
  EXPECT_FALSE(SqliteStore::ParseOptions("x.db", {{"sync", "sometimes"}}, 0, &o, &error));
  EXPECT_NE(error.find("--sync must be full or normal"), std::string::npos);
  EXPECT_FALSE(SqliteStore::ParseOptions("x.db", {{"cache_mib", "0"}}, 0, &o, &error));
  EXPECT_TRUE(SqliteStore::ParseOptions("x.db", {{"mmap_mib", "0"}}, 0, &o, &error)) << error;
  EXPECT_TRUE(SqliteStore::ParseOptions("x.db", {{"mmap_mib", "256"}}, 0, &o, &error)) << error;
  EXPECT_EQ(o.mmap_mib, 256);
  EXPECT_FALSE(SqliteStore::ParseOptions("x.db", {{"mmap_mib", "-1"}}, 0, &o, &error));
  EXPECT_NE(error.find("--mmap-mib must be from 0 to 65536"), std::string::npos) << error;
  EXPECT_FALSE(SqliteStore::ParseOptions("x.db", {{"mmap_mib", "1G"}}, 0, &o, &error));
  EXPECT_FALSE(SqliteStore::ParseOptions("x.db", {{"colour", "blue"}}, 0, &o, &error));
  EXPECT_NE(error.find("unknown"), std::string::npos);
}

}  // namespace
}  // namespace im::server
