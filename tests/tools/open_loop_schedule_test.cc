// The open loop's timetable: which requests are due when, and what counts as unsent.
#include "tools/loadgen/open_loop_schedule.h"

#include <gtest/gtest.h>

namespace im::loadgen {
namespace {

TEST(OpenLoopSchedule, RequestsAreDueAtFixedTimesFromTheStart) {
  OpenLoopSchedule s(1000, 1000.0, 100);  // one request per ms from t = 1000 us
  EXPECT_EQ(s.NextDueUs(), 1000u);
  s.Advance(1000);  // request 0 is due at the start itself
  ASSERT_TRUE(s.HasBacklog());
  EXPECT_EQ(s.Pop(), 1000u);
  EXPECT_FALSE(s.HasBacklog());
  EXPECT_EQ(s.NextDueUs(), 2000u);
  s.Advance(4500);  // 1, 2, 3 are due; their times come from their index, not from now
  EXPECT_EQ(s.Pop(), 2000u);
  EXPECT_EQ(s.Pop(), 3000u);
  EXPECT_EQ(s.Pop(), 4000u);
  EXPECT_FALSE(s.HasBacklog());
  EXPECT_EQ(s.NextDueUs(), 5000u);
}

TEST(OpenLoopSchedule, UnsentCountsTheBacklogAndWhatTheCapKeptOut) {
  OpenLoopSchedule s(0, 1000.0, 3);
  s.Advance(9500);  // 10 due, the backlog takes 3
  EXPECT_EQ(s.Pop(), 0u);
  s.Advance(9600);  // room for one more
  s.Advance(9700);  // full: the rest wait by index
  // Up to the end (9 ms): 9 due, 1 sent, so 8 unsent: 3 waiting plus 5 never queued.
  EXPECT_EQ(s.Unsent(20000, 9000), 8u);
  EXPECT_EQ(s.Unsent(9000, 20000), 8u);  // or up to now, if earlier

  OpenLoopSchedule uncapped(0, 1000.0, 100);
  uncapped.Advance(2500);
  EXPECT_EQ(uncapped.Unsent(20000, 20000), 3u);  // only the backlog
}

}  // namespace
}  // namespace im::loadgen
