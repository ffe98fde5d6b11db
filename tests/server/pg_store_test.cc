// The PostgreSQL engine's own behaviour, on a real server in a temporary directory (each
// test starts its own, since several stop it): the store URL forms and the refusal of
// host names, a failing statement rolling the whole batch back, a lock held elsewhere
// (the batch gives up by its deadline with nothing applied), PostgreSQL stopped (500s
// at once, reconnection without a restart) and a connection lost with a batch in flight
// (looked up after reconnecting, answered before its deadline).
#include "server/pg_store.h"

#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <thread>

#include "server/store_config.h"
#include "tests/support/postgres.h"
#include "tests/support/test_loop.h"

namespace im::server {
namespace {

using proto::Reply;
using proto::Request;
using proto::Verb;
using Clock = std::chrono::steady_clock;

class Sink : public Store::WriteSink {
 public:
  void OnBatchWritten(WriteBatch& batch) override {
    done = true;
    status = batch.status;
    replies = batch.replies;
  }
  bool done = false;
  StoreStatus status;
  std::vector<Reply> replies;
};

struct Read : BuddyQuery {
  void OnBuddiesRead() override { done = true; }
  bool done = false;
};

TEST(PgStoreOptions, UrlFormsAndHostNames) {
  PgStore::Options o;
  std::string error;
  EXPECT_TRUE(PgStore::ParseOptions("postgresql://im@/im?host=/run/postgresql", {}, 0, &o, &error)) << error;
  EXPECT_NE(o.shown.find("host=/run/postgresql"), std::string::npos) << o.shown;
  EXPECT_TRUE(PgStore::ParseOptions("postgres://im:secret@10.0.0.5:5433/im?connect_timeout=7", {}, 0, &o, &error)) << error;
  EXPECT_EQ(o.connect_timeout_ms, 7000u);
  EXPECT_EQ(o.shown.find("secret"), std::string::npos) << "no password in the log";
  EXPECT_TRUE(PgStore::ParseOptions("postgresql://im@[::1]/im", {}, 0, &o, &error)) << error;
  EXPECT_TRUE(PgStore::ParseOptions("postgresql:host=/tmp dbname=im user=im", {}, 0, &o, &error)) << error;
  EXPECT_EQ(o.conninfo, "host=/tmp dbname=im user=im");
  EXPECT_TRUE(PgStore::ParseOptions("postgresql://im@db.example.com/im?hostaddr=10.0.0.5", {}, 0, &o, &error)) << error;
  // A name would need a blocking getaddrinfo inside libpq.
  EXPECT_FALSE(PgStore::ParseOptions("postgresql://im@db.example.com/im", {}, 0, &o, &error));
  EXPECT_NE(error.find("is a name"), std::string::npos) << error;
  EXPECT_FALSE(PgStore::ParseOptions("postgresql:host=localhost dbname=im", {}, 0, &o, &error));
  EXPECT_FALSE(PgStore::ParseOptions("postgresql:host=/tmp nonsense", {}, 0, &o, &error));
  EXPECT_FALSE(PgStore::ParseOptions("postgresql://im@/im?host=/tmp", {{"sync", "normal"}}, 0, &o, &error));
  EXPECT_NE(error.find("SQLite's"), std::string::npos) << error;
  StoreConfig config;
  config.url = "postgres://im@127.0.0.1/im";
  EXPECT_TRUE(CheckStoreConfig(config, &error)) << error;
  config.url = "postgresql://im@localhost/im";
  EXPECT_FALSE(CheckStoreConfig(config, &error));
}

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = test::Postgres::Start();
    ASSERT_TRUE(pg_) << "PostgreSQL must start for these tests";
  }
  void TearDown() override {
    if (store_) store_->Close();
    store_.reset();
  }
  // Use as ASSERT_TRUE(Open()).
  bool Open(int64_t presence_ttl_ms = 0) {
    PgStore::Options o;
    std::string error;
    EXPECT_TRUE(PgStore::ParseOptions(pg_->Url("postgres"), {}, 0, &o, &error)) << error;
    o.presence_ttl_ms = presence_ttl_ms;
    store_ = PgStore::Open(loop_.get(), o, &error);
    EXPECT_TRUE(store_) << error;
    return store_ != nullptr;
  }
  uint64_t Now() { return uv_now(loop_.get()); }
  // Runs the loop until *done or timeout_ms passed; returns how long it took.
  std::chrono::milliseconds RunUntil(const bool* done, int timeout_ms = 10000) {
    auto start = Clock::now();
    auto until = start + std::chrono::milliseconds(timeout_ms);
    while (!*done && Clock::now() < until) uv_run(loop_.get(), UV_RUN_NOWAIT), std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  }
  void RunFor(int ms) {
    bool never = false;
    RunUntil(&never, ms);
  }
  void WaitConnected(int timeout_ms) {
    auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!store_->TEST_connected() && Clock::now() < until) RunFor(10);
    ASSERT_TRUE(store_->TEST_connected()) << pg_->Log();
  }
  Sink Write(std::vector<Request> requests, uint64_t budget_ms = 3000) {
    WriteBatch batch;
    for (auto& r : requests) batch.requests.emplace_back(std::move(r));
    batch.deadline_ms = Now() + budget_ms;
    batch.now_ms = 10000;
    Sink sink;
    store_->Write(&batch, sink);
    RunUntil(&sink.done, static_cast<int>(budget_ms) + 5000);
    EXPECT_TRUE(sink.done);
    return sink;
  }
  bool Exists(const std::string& user) {
    Read read;
    read.user = user;
    store_->ReadBuddies(&read);
    RunUntil(&read.done);
    EXPECT_TRUE(read.status.ok()) << read.status.message();
    return read.exists;
  }

  test::TestLoop loop_;
  std::unique_ptr<test::Postgres> pg_;
  std::unique_ptr<PgStore> store_;
};

TEST_F(PgStoreTest, AFailingStatementRollsBackTheWholeBatch) {
  ASSERT_TRUE(Open());
  ASSERT_TRUE(pg_->Psql("postgres",
                        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE 'disk on fire'; END$$;"
                        "CREATE TRIGGER boom BEFORE INSERT ON buddies FOR EACH ROW EXECUTE FUNCTION boom()"));
  Sink sink = Write({Request{Verb::kReg, "a", ""}, Request{Verb::kReg, "b", ""}, Request{Verb::kAdd, "a", "b"}});
  EXPECT_FALSE(sink.status.ok());
  EXPECT_NE(sink.status.message().find("disk on fire"), std::string::npos) << sink.status.message();
  EXPECT_TRUE(sink.replies.empty());
  EXPECT_FALSE(Exists("a")) << "nothing of the failed batch was applied";
  // The connection is still good: the aborted transaction was ended.
  EXPECT_EQ(Write({Request{Verb::kReg, "c", ""}}).replies, std::vector<Reply>{Reply::kOk});
}

TEST_F(PgStoreTest, TheUserCountStaysExactForBatchesBulkInsertsRollbacksAndAnOldTrigger) {
  ASSERT_TRUE(Open());
  const std::string counted = "SELECT (SELECT count(*) FROM users) || ' ' || (SELECT sum(value) FROM im_counters)";
  std::string out;
  EXPECT_EQ(Write({Request{Verb::kReg, "a", ""}, Request{Verb::kReg, "b", ""}, Request{Verb::kReg, "a", ""}}).replies,
            (std::vector<Reply>{Reply::kOk, Reply::kOk, Reply::kAlreadyRegistered}));
  ASSERT_TRUE(pg_->Psql("postgres", counted, &out));
  EXPECT_EQ(out, "2 2") << "the batch counts its own inserts, once";
  ASSERT_TRUE(pg_->Psql("postgres", "INSERT INTO users(id) SELECT 'bulk' || n FROM generate_series(1, 5) n"));
  ASSERT_TRUE(pg_->Psql("postgres", counted, &out));
  EXPECT_EQ(out, "7 7") << "rows inserted by anything else are counted by the trigger";
  // A batch that fails after its REGs counts nothing.
  ASSERT_TRUE(pg_->Psql("postgres",
                        "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE 'boom'; END$$;"
                        "CREATE TRIGGER boom BEFORE INSERT ON buddies FOR EACH ROW EXECUTE FUNCTION boom()"));
  EXPECT_FALSE(Write({Request{Verb::kReg, "c", ""}, Request{Verb::kAdd, "c", "a"}}).status.ok());
  ASSERT_TRUE(pg_->Psql("postgres", "DROP TRIGGER boom ON buddies", &out));
  ASSERT_TRUE(pg_->Psql("postgres", counted, &out));
  EXPECT_EQ(out, "7 7");
  // A database made by an older server: one counter row, a trigger with no WHEN.
  store_->Close();
  store_.reset();
  ASSERT_TRUE(pg_->Psql("postgres",
                        "DROP TRIGGER users_counted ON users; DELETE FROM im_counters;"
                        "INSERT INTO im_counters VALUES ('users', 7);"
                        "CREATE TRIGGER users_counted AFTER INSERT ON users FOR EACH ROW EXECUTE FUNCTION im_count_user()"));
  ASSERT_TRUE(Open());
  ASSERT_TRUE(pg_->Psql("postgres", "SELECT count(*) FROM pg_trigger WHERE tgname = 'users_counted' AND tgqual IS NOT NULL",
                        &out));
  EXPECT_EQ(out, "1") << "the old trigger was replaced";
  EXPECT_EQ(Write({Request{Verb::kReg, "d", ""}}).replies, std::vector<Reply>{Reply::kOk});
  ASSERT_TRUE(pg_->Psql("postgres", "INSERT INTO users(id) VALUES ('bulk6')"));
  ASSERT_TRUE(pg_->Psql("postgres", counted, &out));
  EXPECT_EQ(out, "9 9");
}

TEST_F(PgStoreTest, ExpiredPresenceIsPurgedInBoundedStepsAndFreshPresenceStays) {
  ASSERT_TRUE(Open(/*presence_ttl_ms=*/30000));
  const std::string now = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
  ASSERT_TRUE(pg_->Psql("postgres",
                        "INSERT INTO users(id) SELECT 'u' || n FROM generate_series(0, 600) n;"
                        "INSERT INTO presence(uid, online, ip, port, updated_ms) SELECT 'u' || n, true, '127.0.0.1', 4000, " +
                            now + " - 3600000 FROM generate_series(1, 600) n;"
                            "INSERT INTO presence(uid, online, ip, port, updated_ms) VALUES ('u0', true, '127.0.0.1', 4000, " +
                            now + ")"));
  std::string left;
  auto until = Clock::now() + std::chrono::seconds(10);
  while (left != "1" && Clock::now() < until) {
    RunFor(50);
    ASSERT_TRUE(pg_->Psql("postgres", "SELECT count(*) FROM presence", &left));
  }
  EXPECT_EQ(left, "1") << "the 600 expired rows are gone";
  ASSERT_TRUE(pg_->Psql("postgres", "SELECT uid FROM presence", &left));
  EXPECT_EQ(left, "u0") << "the fresh one stays";
  EXPECT_NE(store_->Stats().find("presence purged 600"), std::string::npos) << store_->Stats();
  ASSERT_TRUE(pg_->Psql("postgres", "SELECT count(*) FROM users", &left));
  EXPECT_EQ(left, "601") << "accounts are never purged";
}

TEST_F(PgStoreTest, ALockHeldElsewhereGivesUpByTheDeadlineWithNothingApplied) {
  ASSERT_TRUE(Open());
  EXPECT_EQ(Write({Request{Verb::kReg, "alice", ""}}).replies, std::vector<Reply>{Reply::kOk});
  pg_->PsqlInBackground("postgres", "BEGIN; LOCK TABLE users IN SHARE MODE; SELECT pg_sleep(2); COMMIT;");
  std::string locked;
  for (int i = 0; i < 100 && locked != "1"; ++i) {
    pg_->Psql("postgres", "SELECT count(*) FROM pg_locks WHERE mode = 'ShareLock' AND granted", &locked);
  }
  ASSERT_EQ(locked, "1");
  auto start = Clock::now();
  Sink sink = Write({Request{Verb::kReg, "bob", ""}}, /*budget_ms=*/600);
  auto took = Clock::now() - start;
  EXPECT_FALSE(sink.status.ok());
  EXPECT_LT(took, std::chrono::milliseconds(900)) << "answered by the deadline";
  EXPECT_TRUE(store_->TEST_connected()) << "a lock timeout is an answer, not a dead connection";
  RunFor(2000);  // the lock goes
  EXPECT_EQ(Write({Request{Verb::kReg, "bob", ""}}).replies, std::vector<Reply>{Reply::kOk}) << "nothing was applied";
}

TEST_F(PgStoreTest, StoppedItAnswers500AtOnceAndComesBackWithoutARestart) {
  ASSERT_TRUE(Open());
  EXPECT_EQ(Write({Request{Verb::kReg, "alice", ""}}).replies, std::vector<Reply>{Reply::kOk});
  ASSERT_TRUE(pg_->Stop(/*immediate=*/true));
  RunFor(200);  // the engine sees the connection go
  EXPECT_FALSE(store_->TEST_connected());
  auto start = Clock::now();
  Sink sink = Write({Request{Verb::kReg, "bob", ""}});
  EXPECT_FALSE(sink.status.ok());
  Read read;
  read.user = "alice";
  store_->ReadBuddies(&read);
  RunUntil(&read.done);
  EXPECT_FALSE(read.status.ok());
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(100)) << "no waiting while it is down";
  RunFor(500);  // a few reconnect attempts with backoff
  ASSERT_TRUE(pg_->Restart()) << pg_->Log();
  WaitConnected(5000);
  EXPECT_TRUE(Exists("alice")) << "the acknowledged write survived";
  EXPECT_FALSE(Exists("bob")) << "the refused one was never applied";
  EXPECT_EQ(Write({Request{Verb::kReg, "bob", ""}}).replies, std::vector<Reply>{Reply::kOk});
  EXPECT_NE(store_->Stats().find("pg connect retries"), std::string::npos);
}

TEST_F(PgStoreTest, ABatchInFlightWhenItsConnectionDiesIsLookedUpBeforeItIsAnswered) {
  ASSERT_TRUE(Open());
  // The batch waits on a lock, so it is surely in flight when its backend is killed.
  pg_->PsqlInBackground("postgres", "BEGIN; LOCK TABLE users IN SHARE MODE; SELECT pg_sleep(1.5); COMMIT;");
  std::string locked;
  for (int i = 0; i < 100 && locked != "1"; ++i) {
    pg_->Psql("postgres", "SELECT count(*) FROM pg_locks WHERE mode = 'ShareLock' AND granted", &locked);
  }
  ASSERT_EQ(locked, "1");
  WriteBatch batch;
  batch.requests.push_back(Request{Verb::kReg, "carol", ""});
  batch.deadline_ms = Now() + 4000;
  batch.now_ms = 10000;
  Sink sink;
  store_->Write(&batch, sink);
  RunFor(100);
  ASSERT_FALSE(sink.done);
  std::string killed;
  ASSERT_TRUE(pg_->Psql("postgres",
                        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name LIKE 'im-server-%'",
                        &killed));
  EXPECT_EQ(killed, "1") << "our one backend was signalled";
  auto took = RunUntil(&sink.done, 6000);
  ASSERT_TRUE(sink.done);
  EXPECT_LT(took, std::chrono::milliseconds(3900)) << "answered before its deadline";
  EXPECT_FALSE(sink.status.ok());
  EXPECT_NE(sink.status.message().find("before COMMIT"), std::string::npos) << sink.status.message();
  EXPECT_NE(store_->Stats().find("in doubt resolved 1"), std::string::npos) << store_->Stats();
  RunFor(1500);
  EXPECT_EQ(Write({Request{Verb::kReg, "carol", ""}}).replies, std::vector<Reply>{Reply::kOk}) << "it had not committed";
}

TEST_F(PgStoreTest, AStalledDatabaseBoundsTheReadsInFlightAndTheirWait) {
  ASSERT_TRUE(Open());
  std::string pid;
  ASSERT_TRUE(pg_->Psql("postgres", "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'im-server-%'", &pid));
  ASSERT_FALSE(pid.empty());
  ASSERT_EQ(kill(std::stoi(pid), SIGSTOP), 0);
  std::vector<std::unique_ptr<Read>> reads;
  int at_once = 0;
  for (size_t i = 0; i < PgStore::kMaxInFlight + 100; ++i) {
    reads.push_back(std::make_unique<Read>());
    reads.back()->user = "u" + std::to_string(i);
    store_->ReadBuddies(reads.back().get());
    at_once += reads.back()->done;
  }
  EXPECT_EQ(at_once, 100) << "past the bound, reads answer 500 at once";
  auto start = Clock::now();
  RunUntil(&reads.front()->done, 5000);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1500)) << "a stuck read answers by its deadline";
  EXPECT_FALSE(reads.front()->status.ok());
  RunFor(50);
  int answered = 0;
  for (auto& r : reads) answered += r->done;
  EXPECT_EQ(answered, static_cast<int>(reads.size())) << "every read answered (the stuck connection was reset)";
  kill(std::stoi(pid), SIGCONT);
  WaitConnected(5000);
  EXPECT_FALSE(Exists("nobody"));
}

TEST_F(PgStoreTest, AWriteToAStalledDatabaseAnswers500ByItsDeadlineAndIsNeverAppliedLater) {
  ASSERT_TRUE(Open());
  std::string pid;
  ASSERT_TRUE(pg_->Psql("postgres", "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'im-server-%'", &pid));
  ASSERT_FALSE(pid.empty());
  ASSERT_EQ(kill(std::stoi(pid), SIGSTOP), 0);
  auto start = Clock::now();
  Sink sink = Write({Request{Verb::kReg, "late", ""}}, /*budget_ms=*/500);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(800)) << "answered by its deadline";
  EXPECT_FALSE(sink.status.ok());
  RunFor(300);
  kill(std::stoi(pid), SIGCONT);  // the backend wakes up with the batch in its socket
  RunFor(1500);
  WaitConnected(5000);
  EXPECT_EQ(Write({Request{Verb::kReg, "late", ""}}).replies, std::vector<Reply>{Reply::kOk})
      << "the batch answered 500 was not applied after the database woke up";
  EXPECT_NE(store_->Stats().find("in doubt resolved 1 in doubt committed 0"), std::string::npos)
      << "looked up after the old backend ended: " << store_->Stats();
}

TEST_F(PgStoreTest, OpenFailsClearlyWhenNothingListens) {
  PgStore::Options o;
  std::string error;
  ASSERT_TRUE(PgStore::ParseOptions("postgresql://im@/postgres?host=/nonexistent-dir", {}, 0, &o, &error));
  auto start = Clock::now();
  EXPECT_FALSE(PgStore::Open(loop_.get(), o, &error));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  EXPECT_NE(error.find("/nonexistent-dir"), std::string::npos) << error;
}

}  // namespace
}  // namespace im::server
