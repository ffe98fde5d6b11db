#include "lb/backend_pool.h"

#include <gtest/gtest.h>

namespace im::lb {
namespace {

BackendPool ThreeBackends() {
  return BackendPool({Backend{"a", {}, true}, Backend{"b", {}, true}, Backend{"c", {}, true}});
}

TEST(BackendPool, RoundRobin) {
  BackendPool pool = ThreeBackends();
  std::vector<bool> none(3, false);
  EXPECT_EQ(pool.Pick(none), 0);
  EXPECT_EQ(pool.Pick(none), 1);
  EXPECT_EQ(pool.Pick(none), 2);
  EXPECT_EQ(pool.Pick(none), 0);
}

TEST(BackendPool, SkipsDownBackendsAndTheOnesAlreadyTried) {
  BackendPool pool = ThreeBackends();
  std::vector<bool> none(3, false);
  EXPECT_TRUE(pool.MarkDown(1));
  EXPECT_FALSE(pool.MarkDown(1));  // no change, nothing to log
  EXPECT_EQ(pool.healthy(), 2u);
  EXPECT_EQ(pool.Pick(none), 0);
  EXPECT_EQ(pool.Pick(none), 2);
  EXPECT_EQ(pool.Pick(none), 0);
  std::vector<bool> tried = {true, false, false};
  EXPECT_EQ(pool.Pick(tried), 2);
  EXPECT_TRUE(pool.MarkUp(1));
  EXPECT_FALSE(pool.MarkUp(1));
  EXPECT_EQ(pool.Pick(none), 0);
  EXPECT_EQ(pool.Pick(none), 1);
}

TEST(BackendPool, NoneLeft) {
  BackendPool pool = ThreeBackends();
  pool.MarkDown(0);
  pool.MarkDown(2);
  std::vector<bool> tried = {false, true, false};
  EXPECT_EQ(pool.Pick(tried), -1);
  pool.MarkDown(1);
  EXPECT_EQ(pool.Pick(std::vector<bool>(3, false)), -1);
  EXPECT_EQ(pool.healthy(), 0u);
}

}  // namespace
}  // namespace im::lb
