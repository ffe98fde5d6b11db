#include "net/timer.h"

#include <gtest/gtest.h>

#include <memory>

namespace im::net {
namespace {

TEST(Timer, FiresRepeatsAndNeverFiresOnceDestroyed) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int fired = 0;
  auto timer = std::make_unique<Timer>(&loop, &fired, [](void* n) { ++*static_cast<int*>(n); });
  timer->Start(1, 1);
  while (fired < 3) uv_run(&loop, UV_RUN_ONCE);
  EXPECT_TRUE(timer->active());
  timer.reset();  // no waiting for the handle's close: the owner is free at once
  int before = fired;
  uv_run(&loop, UV_RUN_DEFAULT);  // returns: the closed timer keeps nothing alive
  EXPECT_EQ(fired, before);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace im::net
