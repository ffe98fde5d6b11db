#include "net/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

namespace im::net {
namespace {

const sockaddr* Sa(const sockaddr_storage& s) { return reinterpret_cast<const sockaddr*>(&s); }

TEST(Address, ParsesAndFormatsIpv4AndIpv6) {
  sockaddr_storage a;
  ASSERT_TRUE(ParseNumericAddress("127.0.0.1:5001", "0.0.0.0", &a));
  EXPECT_EQ(a.ss_family, AF_INET);
  EXPECT_EQ(FormatAddress(a), "127.0.0.1:5001");
  ASSERT_TRUE(ParseNumericAddress("[::1]:0", "0.0.0.0", &a));
  EXPECT_EQ(a.ss_family, AF_INET6);
  EXPECT_EQ(FormatAddress(a), "[::1]:0");  // brackets, so the text parses back
  sockaddr_storage back;
  ASSERT_TRUE(ParseNumericAddress(FormatAddress(a), "0.0.0.0", &back));
  EXPECT_TRUE(SameAddress(Sa(a), Sa(back)));
  ASSERT_TRUE(ParseNumericAddress("1234", "0.0.0.0", &a));
  EXPECT_EQ(FormatAddress(a), "0.0.0.0:1234");
  ASSERT_TRUE(ParseNumericAddress("localhost:7", "0.0.0.0", &a));
  EXPECT_EQ(FormatAddress(a), "127.0.0.1:7");  // never a name lookup
}

TEST(Address, RejectsWhatIsNotNumeric) {
  sockaddr_storage a;
  EXPECT_FALSE(ParseNumericAddress("example.com:80", "0.0.0.0", &a));
  EXPECT_FALSE(ParseNumericAddress("::1:80", "0.0.0.0", &a));  // bare IPv6 needs brackets
  EXPECT_FALSE(ParseNumericAddress("127.0.0.1:65536", "0.0.0.0", &a));
  EXPECT_FALSE(ParseNumericAddress("", "0.0.0.0", &a));
}

// The one numeric-IP check: the client's buddy list, the PostgreSQL host list and the
// Redis URL all use it.
TEST(Address, IsNumericIpTakesOnlyNumericAddresses) {
  EXPECT_TRUE(IsNumericIp("192.168.1.5"));
  EXPECT_TRUE(IsNumericIp("::1"));
  EXPECT_TRUE(IsNumericIp("2001:db8::7"));
  EXPECT_FALSE(IsNumericIp("localhost"));
  EXPECT_FALSE(IsNumericIp("evil.example.com"));
  EXPECT_FALSE(IsNumericIp("1.2.3"));
  EXPECT_FALSE(IsNumericIp("1.2.3.4:5"));
  EXPECT_FALSE(IsNumericIp("fe80::1%eth0"));
  EXPECT_FALSE(IsNumericIp(""));
  EXPECT_FALSE(IsNumericIp("[::1]"));
  EXPECT_FALSE(IsNumericIp(std::string_view("1.2.3.4\0", 8)));
}

TEST(Address, ResolveHostPortTakesNumericAtOnce) {
  sockaddr_storage a;
  std::string error;
  ASSERT_TRUE(ResolveHostPort("[::1]:9", "0.0.0.0", &a, &error)) << error;
  EXPECT_EQ(PortOf(Sa(a)), 9);
  EXPECT_FALSE(ResolveHostPort("no port here:", "0.0.0.0", &a, &error));
  EXPECT_NE(error.find("bad address"), std::string::npos);
}

TEST(Address, MappedIpv4IsTheSameIpAsIpv4) {
  sockaddr_storage v4, mapped, other;
  ASSERT_TRUE(ParseIp("10.1.2.3", 1, &v4));
  ASSERT_TRUE(ParseIp("::ffff:10.1.2.3", 2, &mapped));
  ASSERT_TRUE(ParseIp("10.1.2.4", 1, &other));
  EXPECT_TRUE(SameIp(Sa(v4), Sa(mapped)));
  EXPECT_FALSE(SameAddress(Sa(v4), Sa(mapped)));  // ports differ
  EXPECT_FALSE(SameIp(Sa(v4), Sa(other)));
  EXPECT_EQ(IpKey(Sa(v4)), IpKey(Sa(mapped)));
  EXPECT_EQ(FormatIp(Sa(mapped)), "10.1.2.3");
}

TEST(Address, Loopback) {
  sockaddr_storage a;
  ASSERT_TRUE(ParseIp("127.9.9.9", 0, &a));
  EXPECT_TRUE(IsLoopback(Sa(a)));
  ASSERT_TRUE(ParseIp("::1", 0, &a));
  EXPECT_TRUE(IsLoopback(Sa(a)));
  ASSERT_TRUE(ParseIp("192.0.2.1", 0, &a));
  EXPECT_FALSE(IsLoopback(Sa(a)));
}

}  // namespace
}  // namespace im::net
