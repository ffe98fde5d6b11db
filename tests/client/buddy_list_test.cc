// client/buddy_list: what the client accepts from a GET reply.
#include "client/buddy_list.h"

#include <gtest/gtest.h>

namespace im::client {
namespace {

using proto::BuddyStatus;

TEST(IsAcceptableBuddyList, ChecksEveryOnlineAddress) {
  std::vector<BuddyStatus> list = {{"alice", true, "10.0.0.1", 5000}, {"bob", false, "unknown", 0}};
  EXPECT_TRUE(IsAcceptableBuddyList(list));
  list[0].ip = "attacker.example";
  EXPECT_FALSE(IsAcceptableBuddyList(list));
}

TEST(IsAcceptableBuddyList, IdsAscendWithoutDuplicates) {
  EXPECT_FALSE(IsAcceptableBuddyList({{"bob", false, "unknown", 0}, {"alice", false, "unknown", 0}}));
  EXPECT_FALSE(IsAcceptableBuddyList({{"bob", true, "10.0.0.1", 1}, {"bob", true, "10.0.0.2", 2}}));
  EXPECT_TRUE(IsAcceptableBuddyList({}));
}

TEST(IsAcceptableBuddyList, AtMostMaxBuddies) {
  std::vector<BuddyStatus> list;
  for (int i = 0; i < proto::kMaxBuddies; ++i) {
    char id[16];
    snprintf(id, sizeof id, "u%05d", i);
    list.push_back({id, false, "unknown", 0});
  }
  EXPECT_TRUE(IsAcceptableBuddyList(list));
  list.push_back({"zzz", false, "unknown", 0});
  EXPECT_FALSE(IsAcceptableBuddyList(list));
}

}  // namespace
}  // namespace im::client
