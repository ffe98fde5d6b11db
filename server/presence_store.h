// Where presence lives when it is not in the account store (--presence redis://...).
// Without one, presence goes with the account batches to the Store as before, so the
// SQLite path is untouched. Presence is soft state that the next heartbeat rewrites:
// writes are fire and forget (the engine counts what it could not write), reads
// complete once, now or later, with a status. Loop thread only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/store.h"

namespace im::server {

// A GET's buddies: ids (and is_protected) in, has_presence/presence out.
class PresenceQuery {
 public:
  std::vector<BuddyRow>* presence_rows = nullptr;
  StoreStatus presence_status;

  virtual void OnPresenceRead() = 0;

 protected:
  ~PresenceQuery() = default;
};

class PresenceStore {
 public:
  virtual ~PresenceStore() = default;
  // Stores each user's newest SET with the TTL as its lifetime. Never overwrites a newer
  // stored one (stored times ahead of now_ms count as now_ms) and never replaces a proven
  // one with an unproven one; an unproven one is never shown for a protected buddy.
  virtual void Write(const PresenceMap& presence, int64_t now_ms) = 0;
  // A new account starts with no presence: Redis cannot tell a SET for an id nobody had
  // registered, which the SQL engines drop, so the id's record goes when REG creates it.
  virtual void Forget(std::string_view user) = 0;
  // Fills the rows' presence in one round trip, then calls query->OnPresenceRead().
  virtual void Read(PresenceQuery* query) = 0;
  // Stops the engine's handles; reads in flight complete first with an error status.
  virtual void Close() = 0;
  virtual std::string Describe() const = 0;
  virtual std::string Stats() const = 0;
};

}  // namespace im::server
