// PasswordPool in-process on a real loop: hashes run on libuv's thread pool and answer on
// the loop thread, the queue is bounded (refused at once past it), Close drops answers.
#include "server/password_pool.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "auth/keys.h"
#include "tests/support/test_loop.h"

namespace im::server {
namespace {

class PasswordPoolTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(auth::Init()); }
  void Run() { uv_run(loop_.get(), UV_RUN_DEFAULT); }

  test::TestLoop loop_;  // first: outlives the pool
};

TEST_F(PasswordPoolTest, HashesAndVerifiesOffTheLoopAndAnswersOnIt) {
  PasswordPool pool(loop_.get(), auth::PasswordCost::kMinimum);
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::string hash;
  int answers = 0;
  ASSERT_TRUE(pool.Hash("correct-horse", [&](bool ok, std::string h) {
    EXPECT_TRUE(ok);
    EXPECT_EQ(std::this_thread::get_id(), loop_thread) << "answered on the loop thread";
    hash = std::move(h);
    ++answers;
  }));
  EXPECT_EQ(answers, 0) << "never answered from inside the call";
  EXPECT_FALSE(pool.idle());
  Run();
  ASSERT_EQ(answers, 1);
  EXPECT_TRUE(hash.starts_with("$argon2id$")) << hash;

  int right = -1, wrong = -1;
  ASSERT_TRUE(pool.Verify(hash, "correct-horse", [&](bool ok, std::string) { right = ok; }));
  ASSERT_TRUE(pool.Verify(hash, "wrong-horse", [&](bool ok, std::string) { wrong = ok; }));
  Run();
  EXPECT_EQ(right, 1);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(pool.stats().hashed, 1u);
  EXPECT_EQ(pool.stats().verified, 2u);
  EXPECT_EQ(pool.stats().refused, 0u);
  EXPECT_TRUE(pool.idle());
}

TEST_F(PasswordPoolTest, PastTheQueueBoundAJobIsRefusedAtOnceAndTheOthersAllComplete) {
  PasswordPool pool(loop_.get(), auth::PasswordCost::kMinimum);
  // The loop does not run meanwhile, so none of them can finish: kMaxRunning are on the
  // pool's threads and kMaxQueued wait.
  const size_t accepted = PasswordPool::kMaxRunning + PasswordPool::kMaxQueued;
  size_t answers = 0;
  for (size_t i = 0; i < accepted; ++i) {
    ASSERT_TRUE(pool.Hash("password-" + std::to_string(i), [&](bool ok, std::string) { answers += ok; })) << i;
  }
  EXPECT_FALSE(pool.Hash("one-too-many", [](bool, std::string) { ADD_FAILURE() << "a refused hash is never answered"; }));
  EXPECT_FALSE(pool.Verify("$argon2id$x", "one-too-many", [](bool, std::string) { ADD_FAILURE() << "nor a verify"; }));
  EXPECT_EQ(pool.stats().refused, 2u);
  Run();
  EXPECT_EQ(answers, accepted);
  EXPECT_EQ(pool.stats().hashed, accepted);
  // Drained: there is room again.
  EXPECT_TRUE(pool.Hash("room-again", [&](bool ok, std::string) { answers += ok; }));
  Run();
  EXPECT_EQ(answers, accepted + 1);
}

TEST_F(PasswordPoolTest, CloseDropsEveryAnswerAndRefusesNewWork) {
  PasswordPool pool(loop_.get(), auth::PasswordCost::kMinimum);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(pool.Hash("password-" + std::to_string(i), [](bool, std::string) { ADD_FAILURE() << "answered after Close"; }));
  }
  pool.Close();
  EXPECT_FALSE(pool.Hash("after-close", [](bool, std::string) { ADD_FAILURE(); }));
  Run();  // the jobs already on a thread finish and are freed; the loop then closes clean
  EXPECT_TRUE(pool.idle());
}

}  // namespace
}  // namespace im::server
