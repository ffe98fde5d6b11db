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

}  // namespace
}  // namespace im::net
