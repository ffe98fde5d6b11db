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
  EXPECT_EQ(CheckCaller(&bob, sa(from_bob), "", true), CallerVerdict::kBuddy);
  EXPECT_EQ(CheckCaller(&bob, sa(from_other), "", true), CallerVerdict::kWrongAddress);
  EXPECT_EQ(CheckCaller(nullptr, sa(from_bob), "", true), CallerVerdict::kNotABuddy);
  bob.online = false;
  bob.ip = "unknown";
  EXPECT_EQ(CheckCaller(&bob, sa(from_bob), "", true), CallerVerdict::kOffline);
}

TEST(CheckCaller, AnIpv4MappedCallerIsItsIpv4Self) {
  proto::BuddyStatus bob{"bob", true, "10.0.0.5", 7000};
  auto mapped = Addr("::ffff:10.0.0.5", 1);
  EXPECT_EQ(CheckCaller(&bob, reinterpret_cast<const sockaddr*>(&mapped), "", true), CallerVerdict::kBuddy);
}

TEST(CheckCaller, APublishedKeyMustBeTheOneOffered) {
  proto::BuddyStatus bob{"bob", true, "10.0.0.5", 7000};
  bob.chat_key = "AAAAAAAAAAAAAAAAAAAAAA";
  auto from_bob = Addr("10.0.0.5", 41234);
  auto sa = reinterpret_cast<const sockaddr*>(&from_bob);
  EXPECT_EQ(CheckCaller(&bob, sa, "AAAAAAAAAAAAAAAAAAAAAA", false), CallerVerdict::kBuddy);
  EXPECT_EQ(CheckCaller(&bob, sa, "BAAAAAAAAAAAAAAAAAAAAA", false), CallerVerdict::kWrongKey);
  // A plain HELLO from a buddy who publishes a key is a downgrade, even when plain chats
  // are allowed.
  EXPECT_EQ(CheckCaller(&bob, sa, "", true), CallerVerdict::kWrongKey);
  // The right key from the wrong address is still the wrong address.
  auto from_other = Addr("10.0.0.6", 1);
  EXPECT_EQ(CheckCaller(&bob, reinterpret_cast<const sockaddr*>(&from_other), "AAAAAAAAAAAAAAAAAAAAAA", false),
            CallerVerdict::kWrongAddress);
}

TEST(CheckCaller, PlainChatsOnlyWhenAllowed) {
  proto::BuddyStatus bob{"bob", true, "10.0.0.5", 7000};
  auto from_bob = Addr("10.0.0.5", 41234);
  auto sa = reinterpret_cast<const sockaddr*>(&from_bob);
  EXPECT_EQ(CheckCaller(&bob, sa, "", false), CallerVerdict::kPlainRefused);
  EXPECT_EQ(CheckCaller(&bob, sa, "", true), CallerVerdict::kBuddy);
  // A key offered by a buddy who published none cannot be checked against anything.
  EXPECT_EQ(CheckCaller(&bob, sa, "AAAAAAAAAAAAAAAAAAAAAA", true), CallerVerdict::kWrongKey);
}

}  // namespace
}  // namespace im::client
