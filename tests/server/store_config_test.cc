#include "server/store_config.h"

#include <gtest/gtest.h>

namespace im::server {
namespace {

using Options = std::vector<std::pair<std::string, std::string>>;

TEST(StoreConfig, SplitsSchemeLocationAndOptions) {
  std::string scheme, location;
  Options options;
  ASSERT_TRUE(SplitStoreUrl("sqlite:/var/lib/im/im.db?sync=normal&cache_mib=64", &scheme, &location, &options));
  EXPECT_EQ(scheme, "sqlite");
  EXPECT_EQ(location, "/var/lib/im/im.db");
  EXPECT_EQ(options, (Options{{"sync", "normal"}, {"cache_mib", "64"}}));
  options.clear();
  ASSERT_TRUE(SplitStoreUrl("data/im.db", &scheme, &location, &options));  // a plain path is SQLite
  EXPECT_EQ(scheme, "sqlite");
  EXPECT_EQ(location, "data/im.db");
  ASSERT_TRUE(SplitStoreUrl("/odd:path/im.db", &scheme, &location, &options));
  EXPECT_EQ(scheme, "sqlite");
  EXPECT_EQ(location, "/odd:path/im.db");
  EXPECT_FALSE(SplitStoreUrl("sqlite:x.db?novalue", &scheme, &location, &options));
}

TEST(StoreConfig, UnknownEnginesAndOptionsAreUsageErrors) {
  std::string error;
  StoreConfig config;
  config.url = "cassandra://somewhere";
  EXPECT_FALSE(CheckStoreConfig(config, &error));
  EXPECT_NE(error.find("unknown engine"), std::string::npos) << error;
  config.url = "sqlite:x.db?sync=sometimes";
  EXPECT_FALSE(CheckStoreConfig(config, &error));
  config.url = "sqlite:x.db";
  config.options = {{"cache_mib", "32"}};
  EXPECT_TRUE(CheckStoreConfig(config, &error)) << error;
}

}  // namespace
}  // namespace im::server
