#include "client/notice_limiter.h"

namespace im::client {

bool NoticeLimiter::Allow(const std::string& key, uint64_t now_ms, uint64_t* held_back) {
  ++total_;
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= max_keys_) {
      // Forget keys whose interval is over and nothing is held back: they would be
      // allowed at once anyway. If that frees nothing, share one overflow entry.
      std::erase_if(entries_, [&](const auto& e) {
        return e.second.held == 0 && now_ms - e.second.shown_ms >= interval_ms_;
      });
    }
    if (entries_.size() >= max_keys_) {
      auto [overflow, created] = entries_.try_emplace(kOverflowKey, Entry{now_ms, 0});  // the one past the bound
      if (created) {
        *held_back = 0;
        return true;
      }
      it = overflow;
    } else {
      entries_[key] = Entry{now_ms, 0};
      *held_back = 0;
      return true;
    }
  }
  Entry& e = it->second;
  if (now_ms - e.shown_ms < interval_ms_) {
    ++e.held;
    return false;
  }
  *held_back = e.held;
  e = Entry{now_ms, 0};
  return true;
}

}  // namespace im::client
