#include "server/group_commit.h"

#include <algorithm>

#include "net/log.h"
#include "server/wall_clock.h"

namespace im::server {

GroupCommit::GroupCommit(uv_loop_t* loop, Store& store, Sink& sink, int64_t write_timeout_ms,
                         int64_t (*wall_clock_ms)())
    : loop_(loop),
      store_(store),
      sink_(sink),
      write_timeout_ms_(write_timeout_ms),
      wall_clock_ms_(wall_clock_ms != nullptr ? wall_clock_ms : WallClockMs),
      check_(loop, this, [](void* self) { static_cast<GroupCommit*>(self)->OnCheck(); }),
      presence_timer_(loop, this, [](void* self) { static_cast<GroupCommit*>(self)->Flush(); }) {}

void GroupCommit::Start() { check_.Start(); }

void GroupCommit::Close() {
  presence_timer_.Stop();
  check_.Stop();
}

void GroupCommit::AddRequest(uint64_t session_id, StoreRequest request) {
  if (waiting_.requests.empty()) oldest_request_ms_ = uv_now(loop_);
  waiting_.requests.push_back(std::move(request));
  waiting_sessions_.push_back(session_id);
}

bool GroupCommit::AddPresence(std::string_view user, bool online, std::string_view ip, uint16_t port,
                              int64_t updated_ms, bool proven, std::string_view chat_key,
                              std::string_view proof_session, uint64_t proof_counter) {
  PresenceMap& waiting = waiting_.presence;
  auto it = waiting.find(user);
  if (it == waiting.end()) {
    if (waiting.size() >= kMaxPendingPresence) {
      ++stats_.presence_overflow;
      return false;
    }
    // The first waiting SET starts the clock; every Flush that takes them stops it.
    if (waiting.empty()) presence_timer_.Start(kPresenceFlushMs);
    it = waiting.emplace(std::string(user), Presence{}).first;
  } else if (it->second.proven && !proven) {
    // A stranger's SET must not push out the owner's waiting one: if the account is
    // protected the store would drop it, and the owner's update would be lost with it.
    ++stats_.presence_dropped;
    return false;
  }
  Presence& p = it->second;
  p.online = online;
  p.ip.assign(ip);  // reuses the string's storage when the user was already waiting
  p.port = port;
  p.updated_ms = updated_ms;
  p.proven = proven;
  p.chat_key.assign(chat_key);
  p.proof_session.assign(proof_session);
  p.proof_counter = proof_counter;
  ++stats_.presence_queued;
  return true;
}

void GroupCommit::RaiseSessionCounter(std::string_view session, uint64_t counter) {
  auto& counters = waiting_.session_counters;
  if (counters.empty() && waiting_.presence.empty()) presence_timer_.Start(kPresenceFlushMs);
  uint64_t& stored = counters[std::string(session)];
  stored = std::max(stored, counter);
}

const Presence* GroupCommit::FindPending(std::string_view user) const {
  // The waiting update is newer than the one being written.
  for (const PresenceMap* map : {&waiting_.presence, &written_.presence}) {
    if (map->empty()) continue;
    if (auto it = map->find(user); it != map->end()) return &it->second;
  }
  return nullptr;
}

void GroupCommit::FlushBefore(uint64_t deadline_ms) {
  give_up_at_ms_ = deadline_ms;
  Flush();
}

void GroupCommit::OnCheck() {
  // Presence alone waits for its timer (or for a batch big enough to be worth a commit).
  if (waiting_.requests.empty() && waiting_.presence.size() < kPresenceFlushSize) return;
  Flush();
}

void GroupCommit::Flush() {
  if (presence_store_ != nullptr && !waiting_.presence.empty() && !flushing_) {
    // Fire and forget, whatever the account store is doing: one connection keeps this
    // server's later GETs behind these writes, so FindPending needs only what waits.
    presence_store_->Write(waiting_.presence, wall_clock_ms_());
    stats_.presence_written += waiting_.presence.size();
    waiting_.presence.clear();
    if (waiting_.session_counters.empty()) presence_timer_.Stop();
  }
  if (in_flight_ || flushing_) return;  // the batch in flight flushes again when it is done
  if (waiting_.requests.empty() && waiting_.presence.empty() && waiting_.session_counters.empty()) return;
  flushing_ = true;
  uint64_t now = uv_now(loop_);
  uint64_t started = waiting_.requests.empty() ? now : oldest_request_ms_;
  uint64_t deadline = started + static_cast<uint64_t>(write_timeout_ms_);
  if (give_up_at_ms_ != 0) deadline = std::min(deadline, give_up_at_ms_);

  written_.Clear();
  std::swap(written_, waiting_);
  written_sessions_.swap(waiting_sessions_);
  waiting_sessions_.clear();
  presence_timer_.Stop();  // nothing waits any more
  written_.deadline_ms = deadline;
  written_.now_ms = wall_clock_ms_();
  in_flight_ = true;
  if (now >= deadline) {
    // It waited for the batch before it until its time ran out: never sent, so never applied.
    written_.status = StoreStatus::Busy("waited past its deadline for the previous batch");
    OnBatchWritten(written_);
  } else {
    store_.Write(&written_, *this);  // may complete before it returns
  }
  flushing_ = false;
  if (!in_flight_ && DueNow()) Flush();
}

// What arrived while a batch was in flight goes as soon as it is done, unless it is
// presence still within its write-behind delay.
bool GroupCommit::DueNow() const {
  if (!waiting_.requests.empty()) return true;
  if (waiting_.presence.empty() && waiting_.session_counters.empty()) return false;
  return give_up_at_ms_ != 0 || !presence_timer_.active() || waiting_.presence.size() >= kPresenceFlushSize;
}

void GroupCommit::OnBatchWritten(WriteBatch& batch) {
  in_flight_ = false;
  if (batch.status.ok()) {
    ++stats_.commits;
    stats_.requests += batch.requests.size();
    stats_.presence_written += batch.presence_written;
    stats_.presence_dropped += batch.presence_dropped;
    if (presence_store_ != nullptr) {
      for (size_t i = 0; i < batch.requests.size() && i < batch.replies.size(); ++i) {
        const StoreRequest& r = batch.requests[i];
        if (r.request.verb == proto::Verb::kReg && !r.login && batch.replies[i] == proto::Reply::kOk) {
          presence_store_->Forget(r.request.user);
        }
      }
    }
    if (batch.presence_dropped > 0) {
      IM_LOG(kDebug, "udp dropped %llu SET for unregistered users (or stale)",
             static_cast<unsigned long long>(batch.presence_dropped));
    }
  } else {
    ++stats_.failed_batches;
    stats_.failed_requests += batch.requests.size();
    IM_LOG(kWarn, "write batch failed (%zu requests, %zu presence updates): %s", batch.requests.size(),
           batch.presence.size(), batch.status.message().c_str());
  }
  Answer(batch, written_sessions_);
  batch.presence.clear();  // FindPending must not see it any more
  if (!flushing_ && DueNow()) Flush();
}

void GroupCommit::Answer(WriteBatch& batch, const std::vector<uint64_t>& sessions) {
  bool ok = batch.status.ok() && batch.replies.size() == batch.requests.size();
  for (size_t i = 0; i < sessions.size(); ++i) {
    sink_.OnCommitted(sessions[i], ok ? batch.replies[i] : proto::Reply::kServerError);
  }
}

}  // namespace im::server
