// A Store in memory for component tests of the group commit, sessions and the presence
// path. It keeps the real contract (all or nothing per batch, one batch in flight,
// results inline or later) and lets a test choose: complete writes and reads at once or
// only when told, fail the next write (busy or error), or fail reads.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "proto/request.h"
#include "server/store.h"

namespace im::test {

class FakeStore final : public server::Store {
 public:
  // --- Knobs.
  bool inline_writes = true;    // false: a batch waits for CompleteWrite()
  bool inline_reads = true;     // false: reads wait for CompleteReads()
  server::StoreStatus next_write_status;  // the next batch fails with this (then ok again)
  server::StoreStatus read_status;        // every read fails with this while not ok

  // --- What happened.
  int batches = 0;
  std::vector<size_t> batch_sizes;           // requests per batch
  std::vector<size_t> batch_presence_sizes;  // presence rows per batch
  std::vector<bool> batch_durable;
  std::set<std::string> users;
  std::map<std::string, std::set<std::string>> buddies;
  server::PresenceMap presence;
  struct Session {
    std::string user;
    int64_t expires_ms = 0;
    uint64_t account_counter = 0, datagram_counter = 0;
  };
  std::map<std::string, Session> sessions;
  std::map<std::string, std::string> password_hashes;  // protected accounts
  std::string secret;
  bool closed = false;

  // --- Store.
  void Write(server::WriteBatch* batch, WriteSink& sink) override {
    EXPECT_EQ(pending_, nullptr) << "a second batch while one is in flight";
    ++batches;
    batch_sizes.push_back(batch->requests.size());
    batch_presence_sizes.push_back(batch->presence.size());
    batch_durable.push_back(batch->durable());
    pending_ = batch;
    sink_ = &sink;
    if (inline_writes) CompleteWrite();
  }
  void ReadBuddies(server::BuddyQuery* query) override {
    reads_.push_back(query);
    if (inline_reads) CompleteReads();
  }
  void ReadAccount(server::AccountQuery* q) override {
    q->status = read_status;
    q->exists = users.count(q->user) > 0;
    q->password_hash = q->exists ? password_hashes[q->user] : "";
    q->OnAccountRead();
  }
  void ReadSession(server::SessionQuery* q) override {
    q->status = read_status;
    auto it = sessions.find(q->session);
    q->exists = it != sessions.end();
    if (q->exists) {
      q->user = it->second.user;
      q->expires_ms = it->second.expires_ms;
      q->account_counter = it->second.account_counter;
      q->datagram_counter = it->second.datagram_counter;
    }
    q->OnSessionRead();
  }
  void ReadSecret(server::SecretQuery* q) override {
    if (secret.empty()) secret = q->candidate;
    q->status = read_status;
    q->secret = secret;
    q->OnSecretRead();
  }
  void Close() override {
    closed = true;
    if (pending_ != nullptr) {
      next_write_status = server::StoreStatus::Error("shutting down");
      CompleteWrite();
    }
    read_status = server::StoreStatus::Error("shutting down");
    CompleteReads();
  }
  std::string Describe() const override { return "fake"; }
  std::string Stats() const override { return "fake"; }

  bool write_in_flight() const { return pending_ != nullptr; }
  size_t reads_waiting() const { return reads_.size(); }

  // Finishes the batch in flight: applies it whole, or fails it whole with
  // next_write_status.
  void CompleteWrite() {
    ASSERT_NE(pending_, nullptr);
    server::WriteBatch* batch = pending_;
    WriteSink* sink = sink_;
    pending_ = nullptr;
    sink_ = nullptr;
    batch->status = next_write_status;
    next_write_status = server::StoreStatus::Ok();
    batch->replies.clear();
    if (batch->status.ok()) {
      for (const auto& r : batch->requests) batch->replies.push_back(Apply(r, batch->now_ms));
      for (const auto& [sid, ctr] : batch->session_counters) {
        if (sessions.count(sid)) sessions[sid].datagram_counter = std::max(sessions[sid].datagram_counter, ctr);
      }
      for (const auto& [user, p] : batch->presence) {
        auto stored = presence.find(user);
        bool locked = password_hashes.count(user) && !p.proven;
        if (!users.count(user) || locked ||
            (stored != presence.end() && std::min(stored->second.updated_ms, batch->now_ms) > p.updated_ms)) {
          ++batch->presence_dropped;
        } else {
          presence[user] = p;
          ++batch->presence_written;
        }
      }
    }
    sink->OnBatchWritten(*batch);
  }

  void CompleteReads() {
    while (!reads_.empty()) {
      server::BuddyQuery* q = reads_.front();
      reads_.pop_front();
      q->rows.clear();
      q->status = read_status;
      q->exists = read_status.ok() && users.count(q->user) > 0;
      q->user_protected = password_hashes.count(q->user) > 0;
      if (q->exists) {
        for (const std::string& b : buddies[q->user]) {
          server::BuddyRow& row = q->rows.emplace_back();
          row.id = b;
          row.is_protected = password_hashes.count(b) > 0;
          auto p = presence.find(b);
          row.has_presence = p != presence.end();
          if (row.has_presence) row.presence = p->second;
        }
      }
      q->OnBuddiesRead();
    }
  }

 private:
  // The protocol's semantics (store.h's StoreRequest), written the simple way.
  proto::Reply Apply(const server::StoreRequest& op, int64_t now_ms) {
    using proto::Reply;
    const proto::Request& r = op.request;
    bool exists = users.count(r.user) > 0;
    bool locked = password_hashes.count(r.user) > 0;
    if ((r.verb == proto::Verb::kAdd || r.verb == proto::Verb::kDel) && locked) {
      auto s = sessions.find(op.proof_session);
      if (s == sessions.end() || s->second.user != r.user || s->second.expires_ms <= now_ms ||
          s->second.account_counter >= op.proof_counter) {
        return Reply::kUnauthorized;
      }
      s->second.account_counter = op.proof_counter;
    }
    switch (r.verb) {
      case proto::Verb::kReg:
        if (op.login) {
          if (!locked || password_hashes[r.user] != op.password_hash) return Reply::kWrongPassword;
          sessions[op.new_session] = Session{r.user, op.session_expires_ms};
          return Reply::kLoggedIn;
        }
        if (exists) {
          if (op.password_hash.empty()) return locked ? Reply::kPasswordRequired : Reply::kAlreadyRegistered;
          return locked ? Reply::kAlreadyRegistered : Reply::kNotProtected;
        }
        users.insert(r.user);
        if (!op.password_hash.empty()) password_hashes[r.user] = op.password_hash;
        if (!op.new_session.empty()) sessions[op.new_session] = Session{r.user, op.session_expires_ms};
        return Reply::kOk;
      case proto::Verb::kAdd:
        if (!users.count(r.user) || !users.count(r.buddy) || r.user == r.buddy) return Reply::kNoSuchUser;
        if (buddies[r.user].size() >= static_cast<size_t>(proto::kMaxBuddies)) return Reply::kBuddyListFull;
        return buddies[r.user].insert(r.buddy).second ? Reply::kOk : Reply::kAlreadyBuddy;
      case proto::Verb::kDel:
        if (!users.count(r.user) || !users.count(r.buddy)) return Reply::kNoSuchUser;
        return buddies[r.user].erase(r.buddy) ? Reply::kOk : Reply::kNotABuddy;
      case proto::Verb::kPing: return Reply::kOk;
    }
    return Reply::kServerError;
  }

  server::WriteBatch* pending_ = nullptr;
  WriteSink* sink_ = nullptr;
  std::deque<server::BuddyQuery*> reads_;
};

}  // namespace im::test
