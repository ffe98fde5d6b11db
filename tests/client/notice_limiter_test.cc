// client/notice_limiter: at most one notice per key per interval, the rest counted.
#include "client/notice_limiter.h"

#include <gtest/gtest.h>

namespace im::client {
namespace {

TEST(NoticeLimiter, OnePerIntervalPerKeyAndTheHeldBackAreReported) {
  NoticeLimiter limiter(1000, 8);
  uint64_t held = 99;
  EXPECT_TRUE(limiter.Allow("10.0.0.1", 5000, &held));
  EXPECT_EQ(held, 0u);
  EXPECT_FALSE(limiter.Allow("10.0.0.1", 5100, &held));
  EXPECT_FALSE(limiter.Allow("10.0.0.1", 5999, &held));
  EXPECT_TRUE(limiter.Allow("10.0.0.2", 5999, &held));  // another caller has its own
  EXPECT_TRUE(limiter.Allow("10.0.0.1", 6000, &held));
  EXPECT_EQ(held, 2u);
  EXPECT_EQ(limiter.total(), 5u);
}

TEST(NoticeLimiter, ManyKeysShareOneOverflowNotice) {
  NoticeLimiter limiter(1000, 2);
  uint64_t held = 0;
  EXPECT_TRUE(limiter.Allow("a", 0, &held));
  EXPECT_TRUE(limiter.Allow("b", 0, &held));
  EXPECT_TRUE(limiter.Allow("c", 10, &held));  // the overflow entry's first notice
  int shown = 0;
  for (int i = 0; i < 1000; ++i) {
    shown += limiter.Allow("x" + std::to_string(i), 20, &held);
  }
  EXPECT_EQ(shown, 0);  // a caller with a thousand addresses still gets no more notices
  EXPECT_TRUE(limiter.Allow("d", 1500, &held));  // a and b are forgotten now: room again
  EXPECT_EQ(limiter.total(), 1004u);
}

}  // namespace
}  // namespace im::client
