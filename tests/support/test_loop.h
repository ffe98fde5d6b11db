// A libuv loop for an in-process test, declared as a fixture's first member so it is set
// up before and torn down after everything that uses it; its end checks that every
// handle was closed.
#pragma once

#include <uv.h>

#include <gtest/gtest.h>

namespace im::test {

class TestLoop {
 public:
  TestLoop() { uv_loop_init(&loop_); }
  ~TestLoop() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;
  uv_loop_t* get() { return &loop_; }
  // One iteration without waiting: timers due, I/O ready, then the check handles (where
  // the server ends its read transactions and flushes its group commit).
  void Iterate() { uv_run(&loop_, UV_RUN_NOWAIT); }

 private:
  uv_loop_t loop_;
};

}  // namespace im::test
