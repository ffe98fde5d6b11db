#include "server/group_commit.h"

#include <algorithm>

#include "server/log.h"

namespace im::server {

namespace {
constexpr uint64_t kMaxRetryDelayMs = 16;
}

GroupCommit::GroupCommit(uv_loop_t* loop, Store& store, Sink& sink, int64_t busy_timeout_ms)
    : loop_(loop), store_(store), sink_(sink), busy_timeout_ms_(busy_timeout_ms) {
  uv_check_init(loop_, &check_);
  check_.data = this;
  uv_timer_init(loop_, &retry_);
  retry_.data = this;
  uv_timer_init(loop_, &presence_timer_);
  presence_timer_.data = this;
}

void GroupCommit::Start() {
  started_ = true;
  // An active check handle does not keep the loop awake; it only runs after each poll.
  uv_check_start(&check_, OnCheck);
}

void GroupCommit::Close() {
  // Both handles are members of an object that outlives uv_run, so no close callback.
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&check_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&check_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&retry_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&presence_timer_), nullptr);
  }
}

void GroupCommit::AddRequest(uint64_t session_id, proto::Request request) {
  requests_.push_back(PendingRequest{session_id, std::move(request)});
}

bool GroupCommit::AddPresence(std::string_view user, bool online, std::string_view ip,
                              uint16_t port, int64_t updated_ms) {
  auto it = presence_.find(user);
  if (it == presence_.end()) {
    if (presence_.size() >= kMaxPendingPresence) {
      ++stats_.presence_overflow;
      return false;
    }
    // The first waiting SET starts the clock; every successful Flush stops it.
    if (presence_.empty()) uv_timer_start(&presence_timer_, OnPresenceTimer, kPresenceFlushMs, 0);
    it = presence_.emplace(std::string(user), Presence{}).first;
  }
  Presence& p = it->second;
  p.online = online;
  p.ip.assign(ip);  // reuses the string's storage when the user was already waiting
  p.port = port;
  p.updated_ms = updated_ms;
  return true;
}

void GroupCommit::FlushBefore(uint64_t deadline_ms) {
  give_up_at_ms_ = deadline_ms;
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&retry_))) Flush();
}

void GroupCommit::OnCheck(uv_check_t* handle) {
  auto* self = static_cast<GroupCommit*>(handle->data);
  // While backing off, the timer owns the next attempt; don't hammer the lock every
  // iteration (UDP traffic can make iterations very frequent).
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&self->retry_))) return;
  // Presence alone waits for its timer (or for a batch big enough to be worth a commit).
  if (self->requests_.empty() && self->presence_.size() < kPresenceFlushSize) return;
  self->Flush();
}

void GroupCommit::OnRetryTimer(uv_timer_t* handle) {
  static_cast<GroupCommit*>(handle->data)->Flush();
}

void GroupCommit::OnPresenceTimer(uv_timer_t* handle) {
  auto* self = static_cast<GroupCommit*>(handle->data);
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(&self->retry_))) return;  // it flushes all
  self->Flush();
}

void GroupCommit::Flush() {
  if (idle()) return;
  // Presence is soft state that the next heartbeat rewrites: a batch of presence alone
  // is committed without fsync. Any account write makes the whole batch durable.
  Store::Status status = store_.BeginWrite(/*durable=*/!requests_.empty());
  if (status == Store::Status::kBusy) {
    RetryLater();
    return;
  }
  if (status == Store::Status::kError) {
    FailAll(store_.last_error().c_str());
    return;
  }

  std::vector<PendingRequest> batch;
  batch.swap(requests_);
  PresenceMap presence;
  presence.swap(presence_);
  replies_.assign(batch.size(), proto::Reply::kServerError);

  for (size_t i = 0; i < batch.size() && status == Store::Status::kOk; ++i) {
    status = store_.Apply(batch[i].request, &replies_[i]);
  }
  uint64_t written = 0, not_written = 0;
  for (auto it = presence.begin(); it != presence.end() && status == Store::Status::kOk; ++it) {
    bool row_written = false;
    status = store_.PutPresence(it->first, it->second.online, it->second.ip, it->second.port,
                                it->second.updated_ms, &row_written);
    ++(row_written ? written : not_written);
  }
  if (status == Store::Status::kOk) status = store_.Commit();

  if (status != Store::Status::kOk) {
    store_.Rollback();
    // Nothing was applied and nobody was answered: the batch waits again, whole.
    // (Nothing new can have arrived: Flush runs synchronously.)
    requests_.swap(batch);
    presence_.swap(presence);
    if (status == Store::Status::kBusy) {
      RetryLater();
    } else {
      FailAll(store_.last_error().c_str());
    }
    return;
  }

  busy_since_ms_ = 0;
  retry_delay_ms_ = 0;
  uv_timer_stop(&presence_timer_);  // nothing waits any more
  ++stats_.commits;
  stats_.requests += batch.size();
  stats_.presence_written += written;
  stats_.presence_dropped += not_written;
  if (not_written > 0) IM_LOG(kDebug, "udp dropped %llu SET for unregistered users (or stale)",
                              static_cast<unsigned long long>(not_written));
  for (size_t i = 0; i < batch.size(); ++i) sink_.OnCommitted(batch[i].session_id, replies_[i]);
}

void GroupCommit::RetryLater() {
  ++stats_.busy_retries;
  uint64_t now = uv_now(loop_);
  if (busy_since_ms_ == 0) {
    busy_since_ms_ = now;
    retry_delay_ms_ = 1;
    IM_LOG(kInfo, "database is locked by another connection; retrying without blocking");
  }
  bool timed_out = now - busy_since_ms_ >= static_cast<uint64_t>(busy_timeout_ms_);
  bool shutting_down = give_up_at_ms_ != 0 && now >= give_up_at_ms_;
  if (timed_out || shutting_down) {
    FailAll(timed_out ? "database stayed locked for --busy-timeout" : "shutting down");
    return;
  }
  uint64_t delay = retry_delay_ms_;
  if (give_up_at_ms_ != 0) delay = std::min(delay, give_up_at_ms_ - now);
  uv_timer_start(&retry_, OnRetryTimer, delay, 0);
  retry_delay_ms_ = std::min(retry_delay_ms_ * 2, kMaxRetryDelayMs);
}

void GroupCommit::FailAll(const char* why) {
  IM_LOG(kWarn, "write batch failed (%zu requests, %zu presence updates): %s", requests_.size(),
         presence_.size(), why);
  busy_since_ms_ = 0;
  retry_delay_ms_ = 0;
  uv_timer_stop(&retry_);
  uv_timer_stop(&presence_timer_);
  std::vector<PendingRequest> batch;
  batch.swap(requests_);
  presence_.clear();
  stats_.failed_requests += batch.size();
  for (const auto& item : batch) sink_.OnCommitted(item.session_id, proto::Reply::kServerError);
}

}  // namespace im::server
