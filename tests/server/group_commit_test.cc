// GroupCommit against a FakeStore on a real loop, no sockets: batching per iteration,
// one batch in flight, 500 with nothing applied, deadlines, presence coalescing and the
// shutdown flush.
#include "server/group_commit.h"

#include <gtest/gtest.h>

#include <map>

#include "net/handle.h"
#include "tests/server/fake_store.h"

namespace im::server {
namespace {

using proto::Reply;
using proto::Request;
using proto::Verb;

class Replies : public GroupCommit::Sink {
 public:
  void OnCommitted(uint64_t session_id, Reply reply) override { got[session_id] = reply; }
  std::map<uint64_t, Reply> got;
};

class GroupCommitTest : public ::testing::Test {
 protected:
  GroupCommitTest() {
    uv_loop_init(&loop_);
    commit_ = std::make_unique<GroupCommit>(&loop_, store_, replies_, /*write_timeout_ms=*/200);
    commit_->Start();
    // Keeps uv_run(UV_RUN_ONCE) from blocking forever when nothing else is active.
    uv_idle_init(&loop_, &spin_);
  }
  ~GroupCommitTest() override {
    commit_->Close();
    uv_close(net::AsHandle(&spin_), nullptr);
    commit_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }
  // One loop iteration: the check handle at its end flushes.
  void Iterate() {
    uv_idle_start(&spin_, [](uv_idle_t*) {});
    uv_run(&loop_, UV_RUN_ONCE);
    uv_idle_stop(&spin_);
  }
  void RunFor(uint64_t ms) {
    uint64_t until = uv_now(&loop_) + ms;
    while (uv_now(&loop_) < until) Iterate();
  }
  void Add(uint64_t id, Verb verb, std::string user, std::string buddy = "") {
    commit_->AddRequest(id, Request{verb, std::move(user), std::move(buddy)});
  }

  uv_loop_t loop_;
  uv_idle_t spin_;
  test::FakeStore store_;
  Replies replies_;
  std::unique_ptr<GroupCommit> commit_;
};

TEST_F(GroupCommitTest, TheRequestsOfOneIterationAreOneBatchAnsweredAfterIt) {
  Add(1, Verb::kReg, "alice");
  Add(2, Verb::kReg, "bob");
  Add(3, Verb::kReg, "alice");
  EXPECT_TRUE(replies_.got.empty()) << "nothing is answered before the commit";
  Iterate();
  ASSERT_EQ(store_.batches, 1);
  EXPECT_EQ(store_.batch_sizes[0], 3u);
  EXPECT_TRUE(store_.batch_durable[0]);
  EXPECT_EQ(replies_.got[1], Reply::kOk);
  EXPECT_EQ(replies_.got[2], Reply::kOk);
  EXPECT_EQ(replies_.got[3], Reply::kAlreadyRegistered);
  EXPECT_EQ(commit_->stats().commits, 1u);
}

TEST_F(GroupCommitTest, OneBatchInFlightTheNextWaitsAndGoesWhenItIsDone) {
  store_.inline_writes = false;
  Add(1, Verb::kReg, "a");
  Iterate();
  ASSERT_TRUE(store_.write_in_flight());
  Add(2, Verb::kReg, "b");
  Add(3, Verb::kReg, "c");
  Iterate();
  EXPECT_EQ(store_.batches, 1) << "no second batch while the first is in flight";
  store_.CompleteWrite();  // the first is done: the waiting two go at once
  EXPECT_EQ(replies_.got[1], Reply::kOk);
  ASSERT_EQ(store_.batches, 2);
  EXPECT_EQ(store_.batch_sizes[1], 2u);
  store_.CompleteWrite();
  EXPECT_EQ(replies_.got.size(), 3u);
}

TEST_F(GroupCommitTest, AFailedBatchAnswers500AndAppliesNothing) {
  Add(1, Verb::kReg, "alice");
  Iterate();
  store_.next_write_status = StoreStatus::Error("disk full");
  Add(2, Verb::kReg, "bob");
  Add(3, Verb::kAdd, "alice", "bob");
  commit_->AddPresence("alice", true, "192.0.2.1", 4000, 1000);
  Iterate();
  EXPECT_EQ(replies_.got[2], Reply::kServerError);
  EXPECT_EQ(replies_.got[3], Reply::kServerError);
  EXPECT_EQ(store_.users.count("bob"), 0u);
  EXPECT_TRUE(store_.presence.empty());
  EXPECT_EQ(commit_->stats().failed_requests, 2u);
  EXPECT_EQ(commit_->FindPending("alice"), nullptr) << "a failed SET is not shown as pending";
  // The next batch works again.
  Add(4, Verb::kReg, "bob");
  Iterate();
  EXPECT_EQ(replies_.got[4], Reply::kOk);
}

TEST_F(GroupCommitTest, ARequestThatWaitedPastItsDeadlineIsNeverSent) {
  store_.inline_writes = false;
  Add(1, Verb::kReg, "slow");
  Iterate();
  Add(2, Verb::kReg, "late");  // waits behind the stuck batch
  RunFor(250);                   // past the 200 ms write timeout
  store_.next_write_status = StoreStatus::Busy("locked");
  store_.CompleteWrite();        // the engine gave up on the first
  EXPECT_EQ(replies_.got[1], Reply::kServerError);
  EXPECT_EQ(replies_.got[2], Reply::kServerError) << "answered at once, not sent";
  EXPECT_EQ(store_.batches, 1);
  EXPECT_EQ(store_.users.count("late"), 0u);
}

TEST_F(GroupCommitTest, PresenceCoalescesAndIsWrittenBehindWithoutFsync) {
  Add(1, Verb::kReg, "alice");
  Add(2, Verb::kReg, "bob");
  Iterate();
  commit_->AddPresence("alice", true, "192.0.2.1", 1, 1000);
  commit_->AddPresence("alice", true, "192.0.2.1", 2, 1001);
  commit_->AddPresence("bob", true, "192.0.2.2", 3, 1002);
  commit_->AddPresence("alice", false, "192.0.2.9", 4, 1003);
  Iterate();
  EXPECT_EQ(store_.batches, 1) << "presence alone waits";
  ASSERT_NE(commit_->FindPending("alice"), nullptr);
  EXPECT_EQ(commit_->FindPending("alice")->port, 4) << "the newest SET is what GET sees";
  RunFor(GroupCommit::kPresenceFlushMs + 20);
  ASSERT_EQ(store_.batches, 2);
  EXPECT_EQ(store_.batch_presence_sizes[1], 2u) << "four SETs, two users: two rows";
  EXPECT_FALSE(store_.batch_durable[1]);
  EXPECT_FALSE(store_.presence["alice"].online);
  EXPECT_EQ(commit_->FindPending("alice"), nullptr);
  EXPECT_EQ(commit_->stats().presence_written, 2u);
}

TEST_F(GroupCommitTest, PresenceInFlightIsStillPendingForGets) {
  store_.inline_writes = false;
  commit_->AddPresence("alice", true, "192.0.2.1", 7, 1000);
  RunFor(GroupCommit::kPresenceFlushMs + 20);
  ASSERT_TRUE(store_.write_in_flight());
  ASSERT_NE(commit_->FindPending("alice"), nullptr) << "not in the store yet: still pending";
  store_.CompleteWrite();
  EXPECT_EQ(commit_->FindPending("alice"), nullptr);
}

TEST_F(GroupCommitTest, TheNumberOfUsersWaitingIsBounded) {
  for (size_t i = 0; i < GroupCommit::kMaxPendingPresence; ++i) {
    ASSERT_TRUE(commit_->AddPresence("u" + std::to_string(i), true, "192.0.2.1", 1, 1));
  }
  EXPECT_FALSE(commit_->AddPresence("one-too-many", true, "192.0.2.1", 1, 1));
  EXPECT_TRUE(commit_->AddPresence("u0", true, "192.0.2.1", 2, 2)) << "a waiting user is replaced";
  EXPECT_EQ(commit_->stats().presence_overflow, 1u);
}

TEST_F(GroupCommitTest, ShutdownFlushSendsWaitingPresenceAtOnce) {
  commit_->AddPresence("alice", true, "192.0.2.1", 7, 1000);
  EXPECT_FALSE(commit_->idle());
  commit_->FlushBefore(uv_now(&loop_) + 100);
  EXPECT_EQ(store_.batches, 1);
  EXPECT_TRUE(commit_->idle());
}

}  // namespace
}  // namespace im::server
