#include "net/connection_table.h"

#include <gtest/gtest.h>

namespace im::net {
namespace {

struct Conn {
  int n;
};

sockaddr_storage Ip(const char* ip) {
  sockaddr_storage a;
  EXPECT_TRUE(ParseIp(ip, 1000, &a));
  return a;
}
const sockaddr* Sa(const sockaddr_storage& s) { return reinterpret_cast<const sockaddr*>(&s); }

TEST(ConnectionTable, IdsInAcceptOrderAndTheOldestWaiting) {
  ConnectionTable<Conn> table;
  Conn a{1}, b{2}, c{3};
  auto ip = Ip("192.0.2.1");
  uint64_t ia = table.Add(&a, Sa(ip), 10), ib = table.Add(&b, Sa(ip), 20), ic = table.Add(&c, Sa(ip), 30);
  EXPECT_LT(ia, ib);
  EXPECT_LT(ib, ic);
  EXPECT_EQ(table.OldestWaiting(), &a);
  table.MarkActive(ia);  // a sent its line
  EXPECT_EQ(table.OldestWaiting(), &b);
  EXPECT_EQ(table.waiting(), 2u);
  EXPECT_EQ(table.WaitingSince(25), std::vector<Conn*>{&b});
  table.Remove(ib);
  table.Remove(ib);  // idempotent
  EXPECT_EQ(table.Find(ib), nullptr);
  EXPECT_EQ(table.Find(ic), &c);
  EXPECT_EQ(table.size(), 2u);
}

TEST(ConnectionTable, CapsEachAddressButNotTrustedOnes) {
  ConnectionTable<Conn> table(2);
  Conn c[6];
  auto one = Ip("192.0.2.1"), two = Ip("192.0.2.2"), proxy = Ip("10.0.0.1");
  table.Trust(Sa(proxy));
  uint64_t first = table.Add(&c[0], Sa(one), 0);
  EXPECT_NE(first, 0u);
  EXPECT_NE(table.Add(&c[1], Sa(one), 0), 0u);
  EXPECT_EQ(table.Add(&c[2], Sa(one), 0), 0u) << "third from one address";
  EXPECT_NE(table.Add(&c[3], Sa(two), 0), 0u) << "another address is not affected";
  EXPECT_EQ(table.refused(), 1u);
  table.Remove(first);
  EXPECT_NE(table.Add(&c[2], Sa(one), 0), 0u) << "a freed slot is reusable at once";
  for (int i = 0; i < 3; ++i) EXPECT_NE(table.Add(&c[4], Sa(proxy), 0), 0u) << "trusted: no cap";
}

TEST(ConnectionTable, AtCapAndTheOldestWaitingOfOneAddress) {
  ConnectionTable<Conn> table(3);
  Conn c[6];
  auto one = Ip("192.0.2.1"), two = Ip("192.0.2.2"), proxy = Ip("10.0.0.1");
  table.Trust(Sa(proxy));
  uint64_t a = table.Add(&c[0], Sa(one), 0);
  uint64_t other = table.Add(&c[1], Sa(two), 1);
  uint64_t b = table.Add(&c[2], Sa(one), 2);
  EXPECT_FALSE(table.AtCap(Sa(one)));
  uint64_t d = table.Add(&c[3], Sa(one), 3);
  EXPECT_TRUE(table.AtCap(Sa(one)));
  EXPECT_FALSE(table.AtCap(Sa(two)));
  EXPECT_EQ(table.OldestWaitingFrom(Sa(one)), &c[0]);
  EXPECT_EQ(table.OldestWaitingFrom(Sa(two)), &c[1]);
  table.MarkActive(a);
  table.MarkActive(a);  // idempotent
  EXPECT_EQ(table.OldestWaitingFrom(Sa(one)), &c[2]) << "an active one is never shed";
  table.Remove(b);
  EXPECT_FALSE(table.AtCap(Sa(one)));
  EXPECT_EQ(table.OldestWaitingFrom(Sa(one)), &c[3]);
  table.MarkActive(d);
  EXPECT_EQ(table.OldestWaitingFrom(Sa(one)), nullptr) << "all of its connections have spoken";
  EXPECT_EQ(table.OldestWaiting(), &c[1]);
  table.Remove(other);
  EXPECT_EQ(table.OldestWaitingFrom(Sa(two)), nullptr);
  for (int i = 0; i < 5; ++i) table.Add(&c[4], Sa(proxy), 4);
  EXPECT_FALSE(table.AtCap(Sa(proxy))) << "trusted: never at the cap";
  EXPECT_EQ(table.OldestWaitingFrom(Sa(proxy)), nullptr) << "trusted: not counted";
  ConnectionTable<Conn> uncapped;
  uncapped.Add(&c[5], Sa(one), 0);
  EXPECT_FALSE(uncapped.AtCap(Sa(one)));
  EXPECT_EQ(uncapped.OldestWaitingFrom(Sa(one)), nullptr);
}

TEST(ConnectionTable, AnUncountedConnectionStaysButFreesItsAddressSlot) {
  ConnectionTable<Conn> table(2);
  Conn c[3];
  auto one = Ip("192.0.2.1");
  uint64_t a = table.Add(&c[0], Sa(one), 0);
  uint64_t b = table.Add(&c[1], Sa(one), 1);
  EXPECT_TRUE(table.AtCap(Sa(one)));
  table.Uncount(a);
  table.Uncount(a);  // idempotent
  EXPECT_FALSE(table.AtCap(Sa(one)));
  EXPECT_EQ(table.Find(a), &c[0]) << "still there";
  EXPECT_EQ(table.OldestWaiting(), &c[0]) << "and still waiting overall";
  EXPECT_EQ(table.OldestWaitingFrom(Sa(one)), &c[1]) << "but no longer one of its address's";
  EXPECT_NE(table.Add(&c[2], Sa(one), 2), 0u);
  EXPECT_TRUE(table.AtCap(Sa(one)));
  table.MarkActive(a);
  table.Remove(a);
  table.Remove(b);
  EXPECT_FALSE(table.AtCap(Sa(one)));
  EXPECT_EQ(table.size(), 1u);
}

}  // namespace
}  // namespace im::net
