// im-loadgen's report formats and the --procs merge: pure, no sockets.
#include "tools/loadgen/report.h"

#include <gtest/gtest.h>

namespace im::loadgen {
namespace {

Results Sample() {
  Results r;
  for (uint64_t v = 100; v < 1100; ++v) r.latency.Record(v);
  r.ok = 1000;
  r.failed = 3;
  r.seconds = 2.0;
  r.errors["timeout"] = 2;
  r.errors["unexpected reply"] = 1;
  r.samples["unexpected reply"] = "201 ALREADY\tREGISTERED (expected 200)";
  return r;
}

TEST(Report, TextHasRateLatencyAndErrorsWithSamples) {
  std::string text = FormatText({"reg", 32, 0, 1}, Sample());
  EXPECT_NE(text.find("1000 ok in 2.00 s = 500 req/s (closed loop, concurrency 32)"), std::string::npos) << text;
  EXPECT_NE(text.find("p99.9"), std::string::npos) << text;
  EXPECT_NE(text.find("errors: timeout: 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("errors: unexpected reply: 1 (sample: 201 ALREADY"), std::string::npos) << text;
  EXPECT_NE(FormatText({"reg", 1, 0, 1}, Results{}).find("errors: none"), std::string::npos);
}

TEST(Report, JsonIsOneEscapedLine) {
  std::string json = FormatJson({"raw", 4, 100, 2}, Sample());
  EXPECT_EQ(json.find('\n'), json.size() - 1);
  EXPECT_NE(json.find("\"rps\":500.0"), std::string::npos) << json;
  EXPECT_NE(json.find("\"rate\":100,\"procs\":2"), std::string::npos) << json;
  EXPECT_NE(json.find("\"errors\":{\"timeout\":2,\"unexpected reply\":1}"), std::string::npos) << json;
  EXPECT_NE(json.find("ALREADY\\u0009REGISTERED"), std::string::npos) << json;
}

TEST(Report, SerializeThenMergeAddsUp) {
  Results total;
  ASSERT_TRUE(Merge(Serialize(Sample()), &total));
  Results other = Sample();
  other.seconds = 2.5;
  other.latency.Record(50000);
  ASSERT_TRUE(Merge(Serialize(other), &total));
  EXPECT_EQ(total.ok, 2000u);
  EXPECT_EQ(total.failed, 6u);
  EXPECT_DOUBLE_EQ(total.seconds, 2.5);
  EXPECT_EQ(total.errors["timeout"], 4u);
  EXPECT_EQ(total.latency.count(), 2001u);
  EXPECT_EQ(total.latency.max(), 50000u);
  EXPECT_EQ(total.samples["unexpected reply"], "201 ALREADY REGISTERED (expected 200)");
  EXPECT_FALSE(Merge("garbage 1 2 3", &total));
  EXPECT_FALSE(Merge("", &total));
}

}  // namespace
}  // namespace im::loadgen
