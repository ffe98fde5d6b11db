// Keeps a flood of remote events (refused calls) from flooding the user's screen: at most
// one notice per key (a caller's address) per interval, the rest counted and reported with
// the next notice shown. The keys it remembers are bounded, so a caller with many
// addresses costs bounded memory. Pure: the time comes in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace im::client {

class NoticeLimiter {
 public:
  NoticeLimiter(uint64_t interval_ms, size_t max_keys) : interval_ms_(interval_ms), max_keys_(max_keys) {}

  // Counts one event for `key` at `now_ms`. True if its notice may be shown now; then
  // *held_back is how many events for the key were not shown since the last notice.
  bool Allow(const std::string& key, uint64_t now_ms, uint64_t* held_back);
  uint64_t total() const { return total_; }  // every event counted, shown or not

  // Shared by every new key while max_keys are remembered and none can be forgotten.
  static constexpr const char* kOverflowKey = "";

 private:
  struct Entry {
    uint64_t shown_ms = 0;
    uint64_t held = 0;
  };
  uint64_t interval_ms_;
  size_t max_keys_;
  uint64_t total_ = 0;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace im::client
