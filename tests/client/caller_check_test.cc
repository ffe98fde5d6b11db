// client/caller_check: a HELLO is believed only from a buddy's presence address.
#include "client/caller_check.h"

#include <gtest/gtest.h>

#include "net/address.h"

namespace im::client {
namespace {

sockaddr_storage Addr(const char* ip, int port) {
  sockaddr_storage out{};
  EXPECT_TRUE(net::ParseIp(ip, port, &out));
  return out;
}

TEST(CheckCaller, OnlyABuddyFromTheirPresenceIp) {
  proto::BuddyStatus bob{"bob", true, "10.0.0.5", 7000};
  auto from_bob = Addr("10.0.0.5", 41234);  // any source port
  auto from_other = Addr("10.0.0.6", 7000);
  auto sa = [](const sockaddr_storage& s) { return reinterpret_cast<const sockaddr*>(&s); };
  EXPECT_EQ(CheckCaller(&bob, sa(from_bob)), CallerVerdict::kBuddy);
  EXPECT_EQ(CheckCaller(&bob, sa(from_other)), CallerVerdict::kWrongAddress);
  EXPECT_EQ(CheckCaller(nullptr, sa(from_bob)), CallerVerdict::kNotABuddy);
  bob.online = false;
  bob.ip = "unknown";
  EXPECT_EQ(CheckCaller(&bob, sa(from_bob)), CallerVerdict::kOffline);
}

TEST(CheckCaller, AnIpv4MappedCallerIsItsIpv4Self) {
  proto::BuddyStatus bob{"bob", true, "10.0.0.5", 7000};
  auto mapped = Addr("::ffff:10.0.0.5", 1);
  EXPECT_EQ(CheckCaller(&bob, reinterpret_cast<const sockaddr*>(&mapped)), CallerVerdict::kBuddy);
}

}  // namespace
}  // namespace im::client
