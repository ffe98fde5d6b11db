// Token buckets per key (an account, a source address), as DNS servers' response rate
// limiting does: each key may spend `burst` tokens at once and earns `per_second` more.
// Bounded: at max_keys the buckets that have refilled (they remember nothing) are
// dropped; only if that frees less than an eighth of the table is it cleared, so an
// attacker must keep max_keys keys busy at once to reset anyone's bucket, and the sweeps
// cost O(1) per insertion amortised. No I/O.
#pragma once

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <unordered_map>

namespace im::auth {

class RateLimiter {
 public:
  RateLimiter(double per_second, double burst, size_t max_keys = 65536)
      : per_ms_(per_second / 1000.0), burst_(burst), max_keys_(max_keys) {}

  // Takes one token for `key` at `now_ms` (any monotonic clock); false if none is left.
  bool Take(std::string_view key, uint64_t now_ms) {
    auto it = buckets_.find(std::string(key));
    if (it == buckets_.end()) {
      if (buckets_.size() >= max_keys_) MakeRoom(now_ms);
      it = buckets_.emplace(std::string(key), Bucket{burst_, now_ms}).first;
    }
    Bucket& b = it->second;
    b.tokens += static_cast<double>(now_ms - b.at_ms) * per_ms_;
    if (b.tokens > burst_) b.tokens = burst_;
    b.at_ms = now_ms;
    if (b.tokens < 1.0) return false;
    b.tokens -= 1.0;
    return true;
  }
  // Whether a token is left, without taking it.
  bool Has(std::string_view key, uint64_t now_ms) const {
    auto it = buckets_.find(std::string(key));
    if (it == buckets_.end()) return true;
    double tokens = it->second.tokens + static_cast<double>(now_ms - it->second.at_ms) * per_ms_;
    return tokens >= 1.0;
  }

 private:
  void MakeRoom(uint64_t now_ms) {
    for (auto i = buckets_.begin(); i != buckets_.end();) {
      double tokens = i->second.tokens + static_cast<double>(now_ms - i->second.at_ms) * per_ms_;
      i = tokens >= burst_ ? buckets_.erase(i) : std::next(i);
    }
    if (buckets_.size() > max_keys_ - max_keys_ / 8) buckets_.clear();
  }

  struct Bucket {
    double tokens;
    uint64_t at_ms;
  };
  double per_ms_;
  double burst_;
  size_t max_keys_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace im::auth
