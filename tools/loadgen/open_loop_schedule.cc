#include "tools/loadgen/open_loop_schedule.h"

#include <algorithm>

namespace im::loadgen {

OpenLoopSchedule::OpenLoopSchedule(uint64_t start_us, double rate, size_t max_backlog)
    : start_us_(start_us), rate_(rate), max_backlog_(max_backlog) {}

void OpenLoopSchedule::Advance(uint64_t now_us) {
  // +1: request 0 is due at the start itself.
  uint64_t due = static_cast<uint64_t>(static_cast<double>(now_us - start_us_) * rate_ / 1e6) + 1;
  if (scheduled_ < due && backlog_.size() >= max_backlog_) capped_ = true;
  while (scheduled_ < due && backlog_.size() < max_backlog_) backlog_.push_back(IntendedUs(scheduled_++));
}

uint64_t OpenLoopSchedule::Pop() {
  uint64_t intended = backlog_.front();
  backlog_.pop_front();
  return intended;
}

uint64_t OpenLoopSchedule::Unsent(uint64_t now_us, uint64_t end_us) const {
  uint64_t unsent = backlog_.size();
  if (!capped_) return unsent;
  uint64_t until = std::min(now_us, end_us);
  uint64_t due = static_cast<uint64_t>(static_cast<double>(until - start_us_) * rate_ / 1e6);
  return unsent + (due > scheduled_ ? due - scheduled_ : 0);
}

uint64_t OpenLoopSchedule::IntendedUs(uint64_t index) const {
  return start_us_ + static_cast<uint64_t>(static_cast<double>(index) * 1e6 / rate_);
}

}  // namespace im::loadgen
