// Replay protection for datagram counters, as IPsec's anti-replay window (RFC 4303
// 3.4.3): the highest counter seen and a bitmap of the 64 below it, so datagrams that
// arrive out of order are accepted once each and a repeat is refused. No I/O.
#pragma once

#include <cstdint>

namespace im::auth {

class ReplayWindow {
 public:
  // Everything at or below `highest` counts as seen (a window loaded from the store).
  explicit ReplayWindow(uint64_t highest = 0) : highest_(highest), seen_(~uint64_t{0}) {}

  // True if `counter` has not been seen and is not too old to tell. Changes nothing.
  bool Fresh(uint64_t counter) const {
    if (counter == 0) return false;
    if (counter > highest_) return true;
    uint64_t back = highest_ - counter;
    return back < 64 && !(seen_ >> back & 1);
  }
  // Records `counter`. REQUIRES: Fresh(counter), and the datagram was otherwise valid.
  void Accept(uint64_t counter) {
    if (counter > highest_) {
      uint64_t shift = counter - highest_;
      seen_ = shift >= 64 ? 0 : seen_ << shift;
      highest_ = counter;
      seen_ |= 1;
    } else {
      seen_ |= uint64_t{1} << (highest_ - counter);
    }
  }
  uint64_t highest() const { return highest_; }

 private:
  uint64_t highest_;
  uint64_t seen_;  // bit i: highest_ - i has been seen
};

}  // namespace im::auth
