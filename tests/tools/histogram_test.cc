#include "tools/loadgen/histogram.h"

#include <gtest/gtest.h>

namespace im::loadgen {
namespace {

TEST(Histogram, ExactBelow64AndWithinTwoPercentAbove) {
  for (uint64_t v : {0ull, 1ull, 63ull}) EXPECT_EQ(Histogram::UpperEdge(Histogram::BucketOf(v)), v);
  for (uint64_t v : {64ull, 100ull, 1000ull, 12345ull, 999999ull, 123456789ull}) {
    uint64_t edge = Histogram::UpperEdge(Histogram::BucketOf(v));
    EXPECT_GE(edge, v);
    EXPECT_LE(static_cast<double>(edge), static_cast<double>(v) * 1.032) << v;
  }
}

TEST(Histogram, Percentiles) {
  Histogram h;
  for (uint64_t v = 1; v <= 1000; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.max(), 1000u);
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.5)), 500, 10);
  EXPECT_NEAR(static_cast<double>(h.Percentile(0.99)), 990, 20);
  EXPECT_EQ(h.Percentile(1.0), 1000u);
  EXPECT_EQ(Histogram().Percentile(0.5), 0u);
}

TEST(Histogram, AddMergesCountsAndMax) {
  Histogram a, b;
  a.Record(10);
  b.Record(5000);
  b.Record(7);
  a.Add(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.max(), 5000u);
  EXPECT_EQ(a.Percentile(0.34), 10u);
}

}  // namespace
}  // namespace im::loadgen
