// The live connections of a daemon, by id in accept order, with what every daemon needs
// to stay available: which connections are still waiting for their first bytes (the
// ones to time out, and the oldest of them to shed when full), and how many each remote
// address holds (so one host cannot take every slot). Trusted addresses (a balancer in
// front of the server) are exempt from the per-address cap. A daemon that would rather
// make room than refuse asks AtCap() first and sheds OldestWaitingFrom() that address.
// No I/O. Loop thread only.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/address.h"

namespace im::net {

template <typename Conn>
class ConnectionTable {
 public:
  // max_per_address 0: no per-address cap.
  explicit ConnectionTable(size_t max_per_address = 0) : max_per_address_(max_per_address) {}

  void Trust(const sockaddr* addr) { trusted_.insert(IpKey(addr)); }
  bool Trusted(const sockaddr* addr) const { return trusted_.count(IpKey(addr)) > 0; }

  // Registers a connection that waits for its first bytes. Returns its id, or 0 if its
  // address already holds max_per_address connections (the caller closes it).
  uint64_t Add(Conn* conn, const sockaddr* peer, uint64_t now_ms) {
    std::string key = IpKey(peer);
    bool counted = max_per_address_ > 0 && !trusted_.count(key);
    if (counted && per_address_[key].count >= max_per_address_) {
      ++refused_;
      return 0;
    }
    uint64_t id = next_id_++;
    if (counted) {
      PerAddress& slot = per_address_[key];
      ++slot.count;
      slot.waiting.insert(id);
    }
    entries_.emplace(id, Entry{conn, counted ? std::move(key) : std::string(), now_ms, counted});
    waiting_.insert(id);
    return id;
  }

  // Forgets a connection (idempotent): its slot and its address's count are free at once.
  void Remove(uint64_t id) {
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    if (it->second.counted) {
      auto slot = per_address_.find(it->second.address);
      if (slot != per_address_.end()) {
        slot->second.waiting.erase(id);
        if (--slot->second.count == 0) per_address_.erase(slot);
      }
    }
    waiting_.erase(id);
    entries_.erase(it);
  }

  // The connection sent what it came for: it no longer times out or gets shed.
  void MarkActive(uint64_t id) {
    if (waiting_.erase(id) == 0) return;
    const Entry& e = entries_.at(id);
    if (!e.counted) return;
    auto slot = per_address_.find(e.address);
    if (slot != per_address_.end()) slot->second.waiting.erase(id);
  }

  // The connection stays, but no longer holds one of its address's slots (its client
  // has finished sending and the daemon is only finishing with it). Idempotent.
  void Uncount(uint64_t id) {
    auto it = entries_.find(id);
    if (it == entries_.end() || !it->second.counted) return;
    auto slot = per_address_.find(it->second.address);
    if (slot != per_address_.end()) {
      slot->second.waiting.erase(id);
      if (--slot->second.count == 0) per_address_.erase(slot);
    }
    it->second.counted = false;
    it->second.address.clear();
  }

  // Whether Add would refuse a connection from `peer` now (its address holds
  // max_per_address connections; never for a trusted address or without a cap).
  bool AtCap(const sockaddr* peer) const {
    if (max_per_address_ == 0) return false;
    auto slot = per_address_.find(IpKey(peer));
    return slot != per_address_.end() && slot->second.count >= max_per_address_;
  }
  // The longest-waiting connection from `peer`'s address that has sent nothing yet, or
  // nullptr (also when the address is not counted: no cap, or trusted). O(log n).
  Conn* OldestWaitingFrom(const sockaddr* peer) const {
    auto slot = per_address_.find(IpKey(peer));
    if (slot == per_address_.end() || slot->second.waiting.empty()) return nullptr;
    return Find(*slot->second.waiting.begin());
  }

  Conn* Find(uint64_t id) const {
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : it->second.conn;
  }
  // The longest-waiting connection that has sent nothing yet, or nullptr.
  Conn* OldestWaiting() const { return waiting_.empty() ? nullptr : Find(*waiting_.begin()); }
  // Waiting connections accepted at or before `cutoff_ms`, oldest first.
  std::vector<Conn*> WaitingSince(uint64_t cutoff_ms) const {
    std::vector<Conn*> out;
    for (uint64_t id : waiting_) {
      const Entry& e = entries_.at(id);
      if (e.accepted_ms > cutoff_ms) break;  // accept order is time order
      out.push_back(e.conn);
    }
    return out;
  }
  std::vector<Conn*> All() const {
    std::vector<Conn*> out;
    out.reserve(entries_.size());
    for (const auto& [id, e] : entries_) out.push_back(e.conn);
    return out;
  }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  size_t waiting() const { return waiting_.size(); }
  uint64_t refused() const { return refused_; }  // turned away by the per-address cap

 private:
  struct Entry {
    Conn* conn;
    std::string address;  // IpKey, when counted
    uint64_t accepted_ms;
    bool counted;         // holds one of its address's slots
  };

  size_t max_per_address_;
  uint64_t next_id_ = 1;
  uint64_t refused_ = 0;
  std::map<uint64_t, Entry> entries_;  // by id: accept order
  std::set<uint64_t> waiting_;         // ids that have sent nothing yet
  struct PerAddress {
    size_t count = 0;
    std::set<uint64_t> waiting;  // its ids that have sent nothing yet
  };
  std::unordered_map<std::string, PerAddress> per_address_;
  std::set<std::string> trusted_;
};

}  // namespace im::net
