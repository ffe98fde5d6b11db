// The Store contract (server/store.h), run against every engine: SQLite on a temporary
// file and PostgreSQL on a real server started in a temporary directory (one server per
// test program, a fresh database per test). Every reply of every account operation,
// presence and its newest-wins rule, protected accounts, proofs and their counters,
// sharing between two connections, and the shared secret. Completion may be inline
// (SQLite) or later from the loop (PostgreSQL): the helpers run the loop until done.
#include <gtest/gtest.h>

#include <chrono>

#include "server/pg_store.h"
#include "server/sqlite_store.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/test_loop.h"

namespace im::server {
namespace {

using proto::Reply;
using proto::Request;
using proto::Verb;

enum class Engine { kSqlite, kPostgres };

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

struct Read : BuddyQuery {
  void OnBuddiesRead() override { done = true; }
  bool done = false;
};
struct SessionRead : SessionQuery {
  void OnSessionRead() override { done = true; }
  bool done = false;
};
struct Secret : SecretQuery {
  void OnSecretRead() override { done = true; }
  bool done = false;
};

constexpr int64_t kNowMs = 10000;  // the wall clock the tests' batches are written at

class StoreContractTest : public ::testing::TestWithParam<Engine> {
 protected:
  static void TearDownTestSuite() { pg_.reset(); }

  void SetUp() override {
    if (GetParam() == Engine::kPostgres) {
      if (!pg_) pg_ = test::Postgres::Start();
      ASSERT_TRUE(pg_) << "PostgreSQL must start for these tests";
      db_ = "contract" + std::to_string(++databases_);
      ASSERT_TRUE(pg_->CreateDatabase(db_));
    }
  }
  void TearDown() override {
    for (auto& s : stores_) s->Close();
  }

  // Owned by the fixture: closed in TearDown, destroyed before the loop.
  Store* Open(int64_t max_users = 0) {
    std::string error;
    std::unique_ptr<Store> store;
    if (GetParam() == Engine::kSqlite) {
      SqliteStore::Options o;
      o.path = dir_.File("im.db");
      o.max_users = max_users;
      store = SqliteStore::Open(loop_.get(), o, &error);
    } else {
      PgStore::Options o;
      EXPECT_TRUE(PgStore::ParseOptions(pg_->Url(db_), {}, max_users, &o, &error)) << error;
      store = PgStore::Open(loop_.get(), o, &error);
    }
    EXPECT_TRUE(store) << error;
    if (!store) return nullptr;
    stores_.push_back(std::move(store));
    return stores_.back().get();
  }
  uint64_t Now() { return uv_now(loop_.get()); }

  // Runs the loop until *done, at most 10 s.
  void RunUntil(const bool* done) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!*done && std::chrono::steady_clock::now() < until) uv_run(loop_.get(), UV_RUN_ONCE);
    EXPECT_TRUE(*done) << "the store answered within 10 s";
  }

  void Write(Store& store, WriteBatch* batch, Sink* sink) {
    if (batch->deadline_ms == 0) batch->deadline_ms = Now() + 5000;
    if (batch->now_ms == 0) batch->now_ms = kNowMs;
    store.Write(batch, *sink);
    RunUntil(&sink->done);
  }

  Reply ApplyOp(Store& store, StoreRequest op) {
    WriteBatch batch;
    batch.requests.push_back(std::move(op));
    Sink sink;
    Write(store, &batch, &sink);
    EXPECT_TRUE(sink.status.ok()) << sink.status.message();
    return sink.replies.empty() ? Reply::kServerError : sink.replies[0];
  }
  Reply Apply(Store& store, Verb verb, const std::string& user, const std::string& buddy = "") {
    return ApplyOp(store, StoreRequest(Request{verb, user, buddy}));
  }

  bool Put(Store& store, const std::string& user, bool online, uint16_t port, int64_t at) {
    WriteBatch batch;
    batch.presence[user] = Presence{online, "127.0.0.1", port, at};
    Sink sink;
    Write(store, &batch, &sink);
    EXPECT_TRUE(sink.status.ok()) << sink.status.message();
    return sink.written == 1;
  }

  // "id" or "id:on|off:port@ms" per buddy.
  std::string Get(Store& store, const std::string& user, bool* exists) {
    Read read;
    read.user = user;
    store.ReadBuddies(&read);
    RunUntil(&read.done);
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
    loop_.Iterate();  // ends SQLite's read snapshot, as the server's loop does
    return out;
  }

  SessionRead GetSession(Store& store, const std::string& session) {
    SessionRead read;
    read.session = session;
    store.ReadSession(&read);
    RunUntil(&read.done);
    return read;
  }

  static inline std::unique_ptr<test::Postgres> pg_;
  static inline int databases_ = 0;
  test::TestLoop loop_;
  test::TempDir dir_;
  std::string db_;
  std::vector<std::unique_ptr<Store>> stores_;
};

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

TEST_P(StoreContractTest, Register) {
  auto store = Open();
  EXPECT_EQ(Apply(*store, Verb::kReg, "alice"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kReg, "alice"), Reply::kAlreadyRegistered);
  EXPECT_EQ(Apply(*store, Verb::kReg, "Alice"), Reply::kOk);  // ids are case-sensitive
}

TEST_P(StoreContractTest, RegistrationClosesAtMaxUsers) {
  auto store = Open(/*max_users=*/2);
  EXPECT_EQ(Apply(*store, Verb::kReg, "a"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kReg, "b"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kReg, "c"), Reply::kRegistrationClosed);
  EXPECT_EQ(Apply(*store, Verb::kReg, "a"), Reply::kAlreadyRegistered);
}

TEST_P(StoreContractTest, AddAndDel) {
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
  EXPECT_EQ(Apply(*store, Verb::kDel, "alice", "nobody"), Reply::kNoSuchUser);
}

TEST_P(StoreContractTest, OneBatchSeesItsOwnEarlierRequestsAndIsBounded) {
  auto store = Open();
  WriteBatch batch;
  batch.requests.push_back(Request{Verb::kReg, "owner", ""});
  for (int i = 0; i <= proto::kMaxBuddies; ++i) batch.requests.push_back(Request{Verb::kReg, "u" + std::to_string(i), ""});
  for (int i = 0; i <= proto::kMaxBuddies; ++i) batch.requests.push_back(Request{Verb::kAdd, "owner", "u" + std::to_string(i)});
  Sink sink;
  Write(*store, &batch, &sink);
  ASSERT_TRUE(sink.status.ok()) << sink.status.message();
  ASSERT_EQ(sink.replies.size(), batch.requests.size());
  EXPECT_EQ(sink.replies[0], Reply::kOk);
  EXPECT_EQ(sink.replies[sink.replies.size() - 2], Reply::kOk);
  EXPECT_EQ(sink.replies.back(), Reply::kBuddyListFull);
}

TEST_P(StoreContractTest, GetListsBuddiesSortedWithTheirStoredPresence) {
  auto store = Open();
  for (const char* id : {"me", "zed", "amy", "Bob"}) Apply(*store, Verb::kReg, id);
  for (const char* id : {"zed", "amy", "Bob"}) Apply(*store, Verb::kAdd, "me", id);
  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists), "Bob amy zed");  // byte order
  EXPECT_TRUE(exists);
  EXPECT_TRUE(Put(*store, "amy", true, 4000, 9500));
  EXPECT_EQ(Get(*store, "me", &exists), "Bob amy:on:4000@9500 zed");
}

TEST_P(StoreContractTest, TheNewestSetWinsWhateverTheCommitOrder) {
  auto store = Open();
  for (const char* id : {"me", "amy"}) Apply(*store, Verb::kReg, id);
  Apply(*store, Verb::kAdd, "me", "amy");
  EXPECT_TRUE(Put(*store, "amy", true, 4000, 9900));
  EXPECT_FALSE(Put(*store, "amy", false, 0, 9500)) << "an older heartbeat written later";
  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists), "amy:on:4000@9900");
}

TEST_P(StoreContractTest, GetOfEmptyListAndUnknownUser) {
  auto store = Open();
  Apply(*store, Verb::kReg, "loner");
  bool exists = false;
  EXPECT_EQ(Get(*store, "loner", &exists), "");
  EXPECT_TRUE(exists);
  EXPECT_EQ(Get(*store, "ghost", &exists), "");
  EXPECT_FALSE(exists);
}

TEST_P(StoreContractTest, PresenceOfUnregisteredUserIsNotWritten) {
  auto store = Open();
  Apply(*store, Verb::kReg, "me");
  EXPECT_FALSE(Put(*store, "ghost", true, 1, 9999));
  Apply(*store, Verb::kReg, "ghost");
  Apply(*store, Verb::kAdd, "me", "ghost");
  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists), "ghost");
}

TEST_P(StoreContractTest, TwoConnectionsShareOneStore) {
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

TEST_P(StoreContractTest, ProtectedAccountsAndTheirSessions) {
  auto store = Open();
  EXPECT_EQ(ApplyOp(*store, NewProtected("alice", "$argon2id$fake", "sessionAAAAAAAAAAAAAAA")), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kReg, "alice"), Reply::kPasswordRequired) << "a bare REG is not a log-in";
  EXPECT_EQ(ApplyOp(*store, NewProtected("alice", "$other", "sessionBBBBBBBBBBBBBBB")), Reply::kAlreadyRegistered);
  Apply(*store, Verb::kReg, "old");
  EXPECT_EQ(ApplyOp(*store, NewProtected("old", "$x", "sessionCCCCCCCCCCCCCCC")), Reply::kNotProtected);
  StoreRequest login = NewProtected("alice", "$argon2id$fake", "sessionDDDDDDDDDDDDDDD");
  login.login = true;
  EXPECT_EQ(ApplyOp(*store, login), Reply::kLoggedIn);
  login.password_hash = "$changed";
  EXPECT_EQ(ApplyOp(*store, login), Reply::kWrongPassword);
  SessionRead read = GetSession(*store, "sessionDDDDDDDDDDDDDDD");
  ASSERT_TRUE(read.status.ok() && read.exists) << read.status.message();
  EXPECT_EQ(read.user, "alice");
  EXPECT_EQ(read.expires_ms, kNowMs + 60000);
  EXPECT_FALSE(GetSession(*store, "sessionNOPENOPENOPENOP").exists);
}

TEST_P(StoreContractTest, AProtectedAccountChangesOnlyWithAFreshCounterOfItsOwnSession) {
  auto store = Open();
  ApplyOp(*store, NewProtected("alice", "$h", "sessionAAAAAAAAAAAAAAA"));
  ApplyOp(*store, NewProtected("mallory", "$h", "sessionMMMMMMMMMMMMMMM"));
  Apply(*store, Verb::kReg, "bob");
  EXPECT_EQ(Apply(*store, Verb::kAdd, "alice", "bob"), Reply::kUnauthorized) << "no proof";
  EXPECT_EQ(ApplyOp(*store, Proven(Verb::kAdd, "alice", "bob", "sessionMMMMMMMMMMMMMMM", 1)), Reply::kUnauthorized)
      << "someone else's session";
  EXPECT_EQ(ApplyOp(*store, Proven(Verb::kAdd, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 5)), Reply::kOk);
  EXPECT_EQ(ApplyOp(*store, Proven(Verb::kDel, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 5)), Reply::kUnauthorized)
      << "a replayed counter";
  EXPECT_EQ(ApplyOp(*store, Proven(Verb::kDel, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 4)), Reply::kUnauthorized);
  EXPECT_EQ(ApplyOp(*store, Proven(Verb::kDel, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 6)), Reply::kOk);
  EXPECT_EQ(GetSession(*store, "sessionAAAAAAAAAAAAAAA").account_counter, 6u);
  bool exists = false;
  EXPECT_EQ(Get(*store, "alice", &exists), "");
  EXPECT_EQ(Apply(*store, Verb::kReg, "carol"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kAdd, "carol", "alice"), Reply::kOk) << "old-style accounts need no proof";
  // The same counter twice in one batch passes once.
  WriteBatch batch;
  batch.requests = {Proven(Verb::kAdd, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 9),
                    Proven(Verb::kDel, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 9)};
  Sink sink;
  Write(*store, &batch, &sink);
  EXPECT_EQ(sink.replies, (std::vector<Reply>{Reply::kOk, Reply::kUnauthorized}));
}

TEST_P(StoreContractTest, AnExpiredSessionProvesNothing) {
  auto store = Open();
  StoreRequest op = NewProtected("alice", "$h", "sessionAAAAAAAAAAAAAAA");
  op.session_expires_ms = kNowMs - 1;
  ApplyOp(*store, op);
  Apply(*store, Verb::kReg, "bob");
  EXPECT_EQ(ApplyOp(*store, Proven(Verb::kAdd, "alice", "bob", "sessionAAAAAAAAAAAAAAA", 1)), Reply::kUnauthorized);
}

TEST_P(StoreContractTest, OnlyProvenPresenceUpdatesAProtectedAccount) {
  auto store = Open();
  ApplyOp(*store, NewProtected("alice", "$h", "sessionAAAAAAAAAAAAAAA"));
  Apply(*store, Verb::kReg, "bob");
  Apply(*store, Verb::kAdd, "bob", "alice");
  EXPECT_FALSE(Put(*store, "alice", true, 4444, 9000)) << "a stranger's SET";
  WriteBatch batch;
  batch.presence["alice"] = Presence{true, "127.0.0.1", 5555, 9100, /*proven=*/true};
  batch.session_counters["sessionAAAAAAAAAAAAAAA"] = 17;
  Sink sink;
  Write(*store, &batch, &sink);
  EXPECT_EQ(sink.written, 1u);
  bool exists = false;
  EXPECT_EQ(Get(*store, "bob", &exists), "alice:on:5555@9100");
  EXPECT_EQ(GetSession(*store, "sessionAAAAAAAAAAAAAAA").datagram_counter, 17u);
  WriteBatch lower;
  lower.session_counters["sessionAAAAAAAAAAAAAAA"] = 3;
  Sink sink2;
  Write(*store, &lower, &sink2);
  EXPECT_EQ(GetSession(*store, "sessionAAAAAAAAAAAAAAA").datagram_counter, 17u) << "never lowered";
}

TEST_P(StoreContractTest, APresenceRowStampedInTheFutureDoesNotBlockLaterSets) {
  auto store = Open();
  for (const char* id : {"me", "amy"}) Apply(*store, Verb::kReg, id);
  Apply(*store, Verb::kAdd, "me", "amy");
  EXPECT_TRUE(Put(*store, "amy", true, 4000, kNowMs + 3600000));
  EXPECT_TRUE(Put(*store, "amy", false, 0, kNowMs)) << "her OFFLINE, stamped now, still wins";
  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists), "amy:off:0@" + std::to_string(kNowMs));
}

TEST_P(StoreContractTest, TheSharedSecretIsTheFirstServersCandidate) {
  auto a = Open();
  auto b = Open();
  Secret first, second;
  first.candidate = std::string("candidate\0one", 13);  // random bytes hold NULs
  second.candidate = "candidate-two";
  a->ReadSecret(&first);
  RunUntil(&first.done);
  b->ReadSecret(&second);
  RunUntil(&second.done);
  EXPECT_EQ(first.secret, std::string("candidate\0one", 13));
  EXPECT_EQ(second.secret, std::string("candidate\0one", 13));
}

TEST_P(StoreContractTest, ABatchPastItsDeadlineIsNotApplied) {
  auto store = Open();
  WriteBatch batch;
  batch.requests.push_back(Request{Verb::kReg, "late", ""});
  batch.deadline_ms = Now();  // already due
  batch.now_ms = kNowMs;
  Sink sink;
  store->Write(&batch, sink);
  RunUntil(&sink.done);
  if (GetParam() == Engine::kPostgres) {
    EXPECT_FALSE(sink.status.ok());
  }
  if (!sink.status.ok()) {
    EXPECT_EQ(Apply(*store, Verb::kReg, "late"), Reply::kOk) << "nothing was applied";
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreContractTest, ::testing::Values(Engine::kSqlite, Engine::kPostgres),
                         [](const auto& info) { return info.param == Engine::kSqlite ? "sqlite" : "postgresql"; });

}  // namespace
}  // namespace im::server
