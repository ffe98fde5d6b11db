#include "proto/userid.h"

#include <gtest/gtest.h>

namespace im::proto {
namespace {

TEST(UserId, AcceptsTheAllowedAlphabet) {
  EXPECT_TRUE(IsValidUserId("alice"));
  EXPECT_TRUE(IsValidUserId("A"));
  EXPECT_TRUE(IsValidUserId("bob_2.x-Y"));
  EXPECT_TRUE(IsValidUserId(std::string(32, 'z')));
}

TEST(UserId, RejectsEverythingElse) {
  EXPECT_FALSE(IsValidUserId(""));
  EXPECT_FALSE(IsValidUserId(std::string(33, 'z')));
  EXPECT_FALSE(IsValidUserId("al ice"));
  EXPECT_FALSE(IsValidUserId("alice!"));
  EXPECT_FALSE(IsValidUserId("al/ice"));
  EXPECT_FALSE(IsValidUserId("caf\xc3\xa9"));
  EXPECT_FALSE(IsValidUserId(std::string("a\0b", 3)));
}

TEST(UserId, IsCaseSensitiveByBeingAPlainString) {
  EXPECT_TRUE(IsValidUserId("Alice"));
  EXPECT_NE(std::string("Alice"), std::string("alice"));
}

}  // namespace
}  // namespace im::proto
