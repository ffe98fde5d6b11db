#include "tools/loadgen/histogram.h"

#include <algorithm>
#include <cmath>

namespace im::loadgen {

int Histogram::BucketOf(uint64_t us) {
  constexpr uint64_t kSub = 1u << kSubBits;
  if (us < kSub) return static_cast<int>(us);
  int octave = 63 - __builtin_clzll(us) - kSubBits + 1;  // >= 1
  if (octave > kOctaves) return kBuckets - 1;
  uint64_t mantissa = us >> (octave - 1);  // in [kSub, 2*kSub)
  return static_cast<int>((octave << kSubBits) + (mantissa - kSub));
}

uint64_t Histogram::UpperEdge(int bucket) {
  constexpr uint64_t kSub = 1u << kSubBits;
  int octave = bucket >> kSubBits;
  uint64_t mantissa = static_cast<uint64_t>(bucket) & (kSub - 1);
  if (octave == 0) return mantissa;
  return ((kSub + mantissa + 1) << (octave - 1)) - 1;
}

void Histogram::Record(uint64_t us) {
  ++buckets_[static_cast<size_t>(BucketOf(us))];
  ++count_;
  max_ = std::max(max_, us);
}

void Histogram::Add(const Histogram& other) {
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

uint64_t Histogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[static_cast<size_t>(i)];
    if (seen >= rank) return std::min(UpperEdge(i), max_);
  }
  return max_;
}

}  // namespace im::loadgen
