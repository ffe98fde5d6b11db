#include "server/password_pool.h"

#include <sodium.h>

namespace im::server {

struct PasswordPool::Job {
  uv_work_t req{};
  PasswordPool* pool = nullptr;  // nullptr once the pool closed: drop the result
  bool verify = false;
  auth::PasswordCost cost = auth::PasswordCost::kInteractive;
  std::string password;  // wiped as soon as the work is done
  std::string hash;      // in: to verify; out: the new hash
  bool ok = false;
  Done done;
};

PasswordPool::PasswordPool(uv_loop_t* loop, auth::PasswordCost cost) : loop_(loop), cost_(cost) {}

PasswordPool::~PasswordPool() { Close(); }

bool PasswordPool::Hash(std::string password, Done done) {
  auto* job = new Job;
  job->password = std::move(password);
  job->done = std::move(done);
  return Enqueue(job);
}

bool PasswordPool::Verify(std::string hash, std::string password, Done done) {
  auto* job = new Job;
  job->verify = true;
  job->hash = std::move(hash);
  job->password = std::move(password);
  job->done = std::move(done);
  return Enqueue(job);
}

bool PasswordPool::Enqueue(Job* job) {
  if (closed_ || queued_.size() >= kMaxQueued) {
    sodium_memzero(job->password.data(), job->password.size());
    delete job;
    ++stats_.refused;
    return false;
  }
  job->pool = this;
  job->cost = cost_;
  job->req.data = job;
  queued_.push_back(job);
  StartQueued();
  return true;
}

void PasswordPool::StartQueued() {
  while (running_.size() < kMaxRunning && !queued_.empty()) {
    Job* job = queued_.front();
    queued_.pop_front();
    running_.insert(job);
    uv_queue_work(loop_, &job->req, Work, AfterWork);  // fails only with EINVAL
  }
}

// On a pool thread: touches nothing but the job.
void PasswordPool::Work(uv_work_t* req) noexcept {
  auto* job = static_cast<Job*>(req->data);
  if (job->verify) {
    job->ok = auth::VerifyPassword(job->hash, job->password);
  } else {
    job->hash = auth::HashPassword(job->password, job->cost);
    job->ok = !job->hash.empty();
  }
  sodium_memzero(job->password.data(), job->password.size());
}

void PasswordPool::AfterWork(uv_work_t* req, int) noexcept {
  auto* job = static_cast<Job*>(req->data);
  if (PasswordPool* pool = job->pool) {
    pool->running_.erase(job);
    ++(job->verify ? pool->stats_.verified : pool->stats_.hashed);
    job->done(job->ok, std::move(job->hash));
    pool->StartQueued();
  }
  delete job;
}

void PasswordPool::Close() {
  if (closed_) return;
  closed_ = true;
  for (Job* job : queued_) {
    sodium_memzero(job->password.data(), job->password.size());
    delete job;
  }
  queued_.clear();
  for (Job* job : running_) job->pool = nullptr;
  running_.clear();
  // Running jobs finish on their thread; AfterWork then finds no pool and frees them. The
  // loop keeps running until they do (uv_run waits for its work requests).
}

}  // namespace im::server
