// The open loop's timetable: request i is due at start + i / rate, whatever happened to
// the ones before it, so a late request's latency counts from when it was due (no
// coordinated omission). Due requests wait in a bounded backlog for a free slot; the
// ones the cap kept out are still counted, by index, when the run ends. No I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace im::loadgen {

class OpenLoopSchedule {
 public:
  // REQUIRES: rate > 0 (requests per second).
  OpenLoopSchedule(uint64_t start_us, double rate, size_t max_backlog);

  // Queues every request due by now_us (up to the backlog cap).
  void Advance(uint64_t now_us);
  bool HasBacklog() const { return !backlog_.empty(); }
  // The intended send time of the oldest due request, taken off the backlog.
  // REQUIRES: HasBacklog().
  uint64_t Pop();
  // When the first request not yet queued is due: the pacer's next wake-up.
  uint64_t NextDueUs() const { return IntendedUs(scheduled_); }
  // Due before min(now_us, end_us) but never sent: the backlog, plus the requests the
  // cap kept out.
  uint64_t Unsent(uint64_t now_us, uint64_t end_us) const;

 private:
  uint64_t IntendedUs(uint64_t index) const;

  uint64_t start_us_;
  double rate_;
  size_t max_backlog_;
  uint64_t scheduled_ = 0;        // requests queued so far (the next one's index)
  bool capped_ = false;           // due requests were left out of a full backlog
  std::deque<uint64_t> backlog_;  // intended send times of due requests waiting for a slot
};

}  // namespace im::loadgen
