// Password hashing off the loop: Argon2id takes tens of milliseconds and tens of MiB, so
// it runs on libuv's thread pool (uv_queue_work). This is the one place the server uses
// threads, and only libuv's: at most kMaxRunning hashes at once (the pool's other
// threads stay free for libuv), at most kMaxQueued waiting behind them; past that a
// request is refused at once and its client told to try later (429), so a flood of
// log-ins costs a bounded amount of CPU and memory and never delays the loop.
//
// Results come back on the loop thread through the callback. Close() drops the callbacks
// of jobs not yet finished (their memory is freed when libuv hands them back). Loop
// thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <unordered_set>

#include "auth/password.h"

namespace im::server {

class PasswordPool {
 public:
  // ok: the hash was made (hash holds it) or the password matched.
  using Done = std::function<void(bool ok, std::string hash)>;

  struct Stats {
    uint64_t hashed = 0;
    uint64_t verified = 0;
    uint64_t refused = 0;  // the queue was full
  };

  static constexpr size_t kMaxRunning = 2;
  static constexpr size_t kMaxQueued = 64;

  PasswordPool(uv_loop_t* loop, auth::PasswordCost cost);
  ~PasswordPool();
  PasswordPool(const PasswordPool&) = delete;
  PasswordPool& operator=(const PasswordPool&) = delete;

  // False (and nothing queued) when kMaxQueued jobs already wait.
  bool Hash(std::string password, Done done);
  bool Verify(std::string hash, std::string password, Done done);
  void Close();
  bool idle() const { return running_.empty() && queued_.empty(); }
  const Stats& stats() const { return stats_; }

 private:
  struct Job;
  bool Enqueue(Job* job);
  void StartQueued();
  static void Work(uv_work_t* req) noexcept;
  static void AfterWork(uv_work_t* req, int status) noexcept;

  uv_loop_t* loop_;
  auth::PasswordCost cost_;
  std::unordered_set<Job*> running_;  // on a pool thread; Close() detaches them
  std::deque<Job*> queued_;
  bool closed_ = false;
  Stats stats_;
};

}  // namespace im::server
