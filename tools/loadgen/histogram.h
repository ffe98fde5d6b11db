// Latency histogram with log-linear buckets (as HdrHistogram): values in microseconds,
// exact below 64 us, then 64 buckets per power of two (under 1.6% error), up to ~1 hour.
// Fixed size, no allocation per sample; histograms from several processes add up.
#pragma once

#include <array>
#include <cstdint>

namespace im::loadgen {

class Histogram {
 public:
  static constexpr int kSubBits = 6;                      // 64 buckets per octave
  static constexpr int kOctaves = 32;                     // up to 2^38 us
  static constexpr int kBuckets = (kOctaves + 1) << kSubBits;

  void Record(uint64_t us);
  void Add(const Histogram& other);
  // The value at quantile q (0..1): the upper edge of the bucket that holds it.
  uint64_t Percentile(double q) const;
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  const std::array<uint64_t, kBuckets>& buckets() const { return buckets_; }
  std::array<uint64_t, kBuckets>& mutable_buckets() { return buckets_; }
  void set_totals(uint64_t count, uint64_t max) { count_ = count; max_ = max; }

  static int BucketOf(uint64_t us);
  static uint64_t UpperEdge(int bucket);

 private:
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace im::loadgen
