#include "proto/address.h"

#include <gtest/gtest.h>

namespace im::proto {
namespace {

TEST(SplitHostPort, Forms) {
  HostPort hp;
  ASSERT_TRUE(SplitHostPort("127.0.0.1:1234", "0.0.0.0", &hp));
  EXPECT_EQ(hp.host, "127.0.0.1");
  EXPECT_EQ(hp.port, 1234u);
  ASSERT_TRUE(SplitHostPort("5001", "0.0.0.0", &hp));
  EXPECT_EQ(hp.host, "0.0.0.0");
  EXPECT_EQ(hp.port, 5001u);
  ASSERT_TRUE(SplitHostPort("[::1]:7", "x", &hp));
  EXPECT_EQ(hp.host, "::1");
  EXPECT_EQ(hp.port, 7u);
  ASSERT_TRUE(SplitHostPort("localhost:0", "x", &hp));
  EXPECT_EQ(hp.host, "localhost");
}

TEST(SplitHostPort, Rejects) {
  HostPort hp;
  for (std::string_view bad : {"", ":", "host:", ":80", "host:99999", "host:-1", "::1:80", "[::1]80", "a:b"}) {
    EXPECT_FALSE(SplitHostPort(bad, "0.0.0.0", &hp)) << bad;
  }
}

}  // namespace
}  // namespace im::proto
