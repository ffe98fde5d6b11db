// The store on a real temporary SQLite file: every reply of every account operation,
// presence, expiry, sharing between two connections, and a lock held elsewhere.
#include "server/store.h"

#include <sqlite3.h>

#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace im::server {
namespace {

using proto::Reply;
using proto::Request;
using proto::Verb;
using Status = Store::Status;

class StoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> OpenStore(int64_t max_users = 0) {
    std::string error;
    auto store = Store::Open({dir_.File("im.db"), /*sync_full=*/true, max_users}, &error);
    EXPECT_TRUE(store) << error;
    return store;
  }

  // Applies one request in its own transaction, as a batch of one.
  Reply Apply(Store& store, Verb verb, const std::string& user, const std::string& buddy = "") {
    EXPECT_EQ(store.BeginWrite(true), Status::kOk);
    Reply reply = Reply::kServerError;
    EXPECT_EQ(store.Apply(Request{verb, user, buddy}, &reply), Status::kOk);
    EXPECT_EQ(store.Commit(), Status::kOk);
    return reply;
  }

  std::string Get(Store& store, const std::string& user, bool* exists, int64_t now = 10000,
                  int64_t ttl = 1000, const PresenceMap& pending = {}) {
    std::string out;
    EXPECT_EQ(store.AppendBuddyLines(user, now, ttl, pending, &out, exists), Status::kOk);
    store.EndReads();  // as the server does at the end of each loop iteration
    return out;
  }

  void Put(Store& store, const std::string& user, bool online, int port, int64_t at,
           bool expect_written = true) {
    ASSERT_EQ(store.BeginWrite(false), Status::kOk);
    bool written = false;
    ASSERT_EQ(store.PutPresence(user, online, "127.0.0.1", port, at, &written), Status::kOk);
    ASSERT_EQ(store.Commit(), Status::kOk);
    EXPECT_EQ(written, expect_written);
  }

  test::TempDir dir_;
};

TEST_F(StoreTest, Register) {
  auto store = OpenStore();
  EXPECT_EQ(Apply(*store, Verb::kReg, "alice"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kReg, "alice"), Reply::kAlreadyRegistered);
  EXPECT_EQ(Apply(*store, Verb::kReg, "Alice"), Reply::kOk);  // ids are case-sensitive
}

TEST_F(StoreTest, RegistrationClosesAtMaxUsers) {
  auto store = OpenStore(/*max_users=*/2);
  EXPECT_EQ(Apply(*store, Verb::kReg, "a"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kReg, "b"), Reply::kOk);
  EXPECT_EQ(Apply(*store, Verb::kReg, "c"), Reply::kRegistrationClosed);
  EXPECT_EQ(Apply(*store, Verb::kReg, "a"), Reply::kAlreadyRegistered);  // log-in still works
}

TEST_F(StoreTest, AddAndDel) {
  auto store = OpenStore();
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
  EXPECT_EQ(Apply(*store, Verb::kDel, "alice", "nobody"), Reply::kNotABuddy);
}

TEST_F(StoreTest, BuddyListIsBounded) {
  auto store = OpenStore();
  ASSERT_EQ(store->BeginWrite(true), Status::kOk);
  Reply reply;
  store->Apply(Request{Verb::kReg, "owner", ""}, &reply);
  for (int i = 0; i <= proto::kMaxBuddies; ++i) {
    std::string id = "u" + std::to_string(i);
    store->Apply(Request{Verb::kReg, id, ""}, &reply);
    ASSERT_EQ(store->Apply(Request{Verb::kAdd, "owner", id}, &reply), Status::kOk);
    ASSERT_EQ(reply, i < proto::kMaxBuddies ? Reply::kOk : Reply::kBuddyListFull) << i;
  }
  ASSERT_EQ(store->Commit(), Status::kOk);
}

TEST_F(StoreTest, GetListsBuddiesSortedWithPresenceAndExpiry) {
  auto store = OpenStore();
  for (const char* id : {"me", "zed", "amy", "Bob"}) Apply(*store, Verb::kReg, id);
  for (const char* id : {"zed", "amy", "Bob"}) Apply(*store, Verb::kAdd, "me", id);
  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists),
            "Bob 101 OFFLINE unknown 0\namy 101 OFFLINE unknown 0\nzed 101 OFFLINE unknown 0\n");
  EXPECT_TRUE(exists);

  Put(*store, "amy", true, 4000, /*at=*/9500);
  Put(*store, "zed", true, 5000, /*at=*/8000);  // older than the 1000 ms ttl at now=10000
  EXPECT_EQ(Get(*store, "me", &exists),
            "Bob 101 OFFLINE unknown 0\namy 100 ONLINE 127.0.0.1 4000\nzed 101 OFFLINE unknown 0\n");
  Put(*store, "amy", false, 0, 9900);
  EXPECT_EQ(Get(*store, "me", &exists),
            "Bob 101 OFFLINE unknown 0\namy 101 OFFLINE unknown 0\nzed 101 OFFLINE unknown 0\n");
}

TEST_F(StoreTest, TheNewestSetWinsWhateverTheCommitOrder) {
  auto store = OpenStore();
  for (const char* id : {"me", "amy"}) Apply(*store, Verb::kReg, id);
  Apply(*store, Verb::kAdd, "me", "amy");
  Put(*store, "amy", true, 4000, /*at=*/9900);
  // Another server's batch, written later, holding an older heartbeat: not applied.
  Put(*store, "amy", false, 0, /*at=*/9500, /*expect_written=*/false);
  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists), "amy 100 ONLINE 127.0.0.1 4000\n");
}

TEST_F(StoreTest, GetPrefersPresenceNotYetCommitted) {
  auto store = OpenStore();
  for (const char* id : {"me", "amy", "zed"}) Apply(*store, Verb::kReg, id);
  for (const char* id : {"amy", "zed"}) Apply(*store, Verb::kAdd, "me", id);
  Put(*store, "amy", true, 4000, /*at=*/9500);
  Put(*store, "zed", true, 5000, /*at=*/9500);
  PresenceMap pending;
  pending["zed"] = Presence{true, "10.0.0.9", 6000, 9900};    // newer than the database
  pending["amy"] = Presence{false, "10.0.0.8", 0, 9900};      // went offline
  pending["nobody"] = Presence{true, "10.0.0.7", 7000, 9900};  // not a buddy: not listed
  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists, 10000, 1000, pending),
            "amy 101 OFFLINE unknown 0\nzed 100 ONLINE 10.0.0.9 6000\n");
  pending["zed"].updated_ms = 8000;  // expiry applies to pending presence too
  EXPECT_EQ(Get(*store, "me", &exists, 10000, 1000, pending),
            "amy 101 OFFLINE unknown 0\nzed 101 OFFLINE unknown 0\n");
}

TEST_F(StoreTest, GetOfEmptyListAndUnknownUser) {
  auto store = OpenStore();
  Apply(*store, Verb::kReg, "loner");
  bool exists = false;
  EXPECT_EQ(Get(*store, "loner", &exists), "");
  EXPECT_TRUE(exists);
  EXPECT_EQ(Get(*store, "ghost", &exists), "");
  EXPECT_FALSE(exists);
}

TEST_F(StoreTest, PresenceOfUnregisteredUserIsNotWritten) {
  auto store = OpenStore();
  Apply(*store, Verb::kReg, "me");
  Put(*store, "ghost", true, 1, 9999, /*expect_registered=*/false);
  Apply(*store, Verb::kReg, "ghost");
  Apply(*store, Verb::kAdd, "me", "ghost");
  bool exists = false;
  EXPECT_EQ(Get(*store, "me", &exists), "ghost 101 OFFLINE unknown 0\n");
}

TEST_F(StoreTest, RollbackLeavesNothing) {
  auto store = OpenStore();
  ASSERT_EQ(store->BeginWrite(true), Status::kOk);
  Reply reply;
  store->Apply(Request{Verb::kReg, "temp", ""}, &reply);
  store->Rollback();
  EXPECT_EQ(Apply(*store, Verb::kReg, "temp"), Reply::kOk);
}

TEST_F(StoreTest, TwoConnectionsShareOneFile) {
  auto a = OpenStore();
  auto b = OpenStore();
  EXPECT_EQ(Apply(*a, Verb::kReg, "alice"), Reply::kOk);
  EXPECT_EQ(Apply(*b, Verb::kReg, "alice"), Reply::kAlreadyRegistered);
  EXPECT_EQ(Apply(*b, Verb::kReg, "bob"), Reply::kOk);
  EXPECT_EQ(Apply(*a, Verb::kAdd, "alice", "bob"), Reply::kOk);
  Put(*a, "bob", true, 7, 9999);
  bool exists = false;
  EXPECT_EQ(Get(*b, "alice", &exists), "bob 100 ONLINE 127.0.0.1 7\n");
}

TEST_F(StoreTest, ReadsShareOneSnapshotUntilEndReadsAndAWriteEndsThem) {
  auto a = OpenStore();
  auto b = OpenStore();
  for (const char* id : {"alice", "bob"}) Apply(*a, Verb::kReg, id);
  Apply(*a, Verb::kAdd, "alice", "bob");
  std::string out;
  bool exists = false;
  ASSERT_EQ(b->AppendBuddyLines("alice", 10000, 1000, {}, &out, &exists), Status::kOk);
  EXPECT_EQ(out, "bob 101 OFFLINE unknown 0\n");
  Put(*a, "bob", true, 7, 9999);  // committed by the other connection meanwhile
  out.clear();
  ASSERT_EQ(b->AppendBuddyLines("alice", 10000, 1000, {}, &out, &exists), Status::kOk);
  EXPECT_EQ(out, "bob 101 OFFLINE unknown 0\n") << "same read transaction, same snapshot";
  b->EndReads();
  EXPECT_EQ(Get(*b, "alice", &exists), "bob 100 ONLINE 127.0.0.1 7\n");
  out.clear();
  ASSERT_EQ(b->AppendBuddyLines("alice", 10000, 1000, {}, &out, &exists), Status::kOk);
  EXPECT_EQ(Apply(*b, Verb::kReg, "carol"), Reply::kOk);  // BeginWrite ends the open read
  EXPECT_EQ(Apply(*a, Verb::kReg, "carol"), Reply::kAlreadyRegistered);
}

TEST_F(StoreTest, LockHeldElsewhereIsBusyAtOnceAndReadsStillWork) {
  auto store = OpenStore();
  Apply(*store, Verb::kReg, "alice");
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("im.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(store->BeginWrite(true), Status::kBusy);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  bool exists = false;
  EXPECT_EQ(Get(*store, "alice", &exists), "");  // WAL readers don't wait for the writer
  EXPECT_TRUE(exists);

  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  EXPECT_EQ(Apply(*store, Verb::kReg, "bob"), Reply::kOk);
}

TEST_F(StoreTest, UserCountSurvivesReopenAndBulkInsert) {
  {
    auto store = OpenStore(3);
    Apply(*store, Verb::kReg, "a");
  }
  // A bulk seed straight into the file is counted too (the trigger keeps the count).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("im.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO users VALUES ('b'), ('c')", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenStore(3);
  EXPECT_EQ(Apply(*store, Verb::kReg, "d"), Reply::kRegistrationClosed);
}

TEST_F(StoreTest, OpenFailsClearlyOnABadPath) {
  std::string error;
  auto store = Store::Open({dir_.File("no/such/dir/im.db"), true, 0}, &error);
  EXPECT_FALSE(store);
  EXPECT_NE(error.find("no/such/dir"), std::string::npos) << error;
}

}  // namespace
}  // namespace im::server
