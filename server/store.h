// What the server needs from a storage engine: accounts, buddy lists and presence,
// spoken in rows and a small status, never in wire text. An engine is one class behind
// this interface (SqliteStore today; a PostgreSQL or Redis engine answers from a socket).
//
// Completion is asynchronous in the contract: a call may finish inside itself (SQLite
// does) or later from the loop (an engine on a socket), and callers never depend on
// which. An engine keeps its own options, locks, retries and timers to itself; what
// reaches the server is a status for the whole batch. Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "proto/request.h"

namespace im::server {

// The outcome of a store operation, as leveldb's Status: cheap when ok.
class StoreStatus {
 public:
  enum class Code {
    kOk,
    kBusy,   // the engine could not get to it in time (a lock held elsewhere); nothing happened
    kError,  // anything else (I/O error, disk full, lost connection); nothing happened
  };
  StoreStatus() = default;
  static StoreStatus Ok() { return StoreStatus(); }
  static StoreStatus Busy(std::string message) { return StoreStatus(Code::kBusy, std::move(message)); }
  static StoreStatus Error(std::string message) { return StoreStatus(Code::kError, std::move(message)); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StoreStatus(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A user's presence as last reported by a SET.
struct Presence {
  bool online = false;
  std::string ip;
  uint16_t port = 0;
  int64_t updated_ms = 0;  // wall clock, comparable across servers
  bool proven = false;     // the SET carried a valid proof: it may update a protected account
  std::string chat_key;    // the fingerprint of the user's chat key; empty if none published
  // A proven SET's session and datagram counter. Every engine applies it only if no
  // datagram of that session with a higher counter was stored before (by any server):
  // a proven SET replayed to another backend, whose own replay window never saw the
  // original, is still too old. Empty for an unproven SET.
  std::string proof_session;
  uint64_t proof_counter = 0;
};

// How an engine that stores presence rows purges the expired ones (SQLite, PostgreSQL;
// Redis expires its keys itself): at most kRows a step, each its own short transaction
// without fsync. Scattered ids dirty up to a page each, so 250 keeps a step near 1 ms
// (1000 took 3-4 ms of CPU and 0.5 MiB of WAL on a 1M-row SQLite table). A full step means
// a backlog (a start on a table that never purged): the next follows after kBacklogMs,
// leaving the loop free in between; otherwise after kEveryMs.
struct PresencePurge {
  static constexpr int kRows = 250;
  static constexpr uint64_t kEveryMs = 1000;
  static constexpr uint64_t kBacklogMs = 5;
};

// An account request as the store applies it: the wire request plus what the server
// established before (a password hash computed or verified off the loop, a proof checked
// against the session key). The engine checks the rest inside the batch's transaction,
// where other servers cannot interleave:
//   REG, no password_hash: an old-style account. 201 if it exists unprotected, 205 if it
//     exists with a password, else created (203 at max_users).
//   REG, password_hash, !login: a new protected account with that hash and the session
//     new_session. 201 if the id was taken meanwhile, 206 if taken by an old-style account.
//   REG, login: the account's stored hash must still be password_hash (verified by the
//     server); then new_session is created and the reply is 210. Else 204.
//   ADD/DEL of a protected account: proof_session must be a live session of that user
//     whose account counter is below proof_counter; the counter is raised to it (a replay
//     cannot pass twice, on any server) and the request applied. Else 401. For an
//     old-style account the proof fields are ignored.
struct StoreRequest {
  StoreRequest(proto::Request r = {}) : request(std::move(r)) {}  // NOLINT: implicit on purpose
  proto::Request request;      // its password field is never stored
  std::string password_hash;   // Argon2id string (crypto_pwhash_str)
  bool login = false;
  std::string new_session;     // session id to create with REG
  int64_t session_expires_ms = 0;
  std::string proof_session;
  uint64_t proof_counter = 0;
};

// Presence keyed by user id, looked up by string_view without a copy.
struct UserIdHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using PresenceMap = std::unordered_map<std::string, Presence, UserIdHash, std::equal_to<>>;

// One transaction: every account request and presence update in it is applied, or none
// is. The engine fills in the results.
struct WriteBatch {
  std::vector<StoreRequest> requests;
  PresenceMap presence;      // the newest SET of each user; never overwrites a newer stored one
                             // (stored times ahead of now_ms count as now_ms), and an unproven
                             // SET never updates a protected account
  // The highest datagram counter seen per session (replay protection across restarts and
  // servers): each stored counter is raised to it, never lowered.
  std::unordered_map<std::string, uint64_t> session_counters;
  int64_t now_ms = 0;        // wall clock of the batch: session expiry, clamping of stored times
  uint64_t deadline_ms = 0;  // uv_now after which the engine must give up (kBusy/kError) unapplied

  // --- Results.
  StoreStatus status;
  std::vector<proto::Reply> replies;  // one per request, when status is ok
  uint64_t presence_written = 0;      // rows written
  uint64_t presence_dropped = 0;      // unknown users, or older than the stored row

  bool durable() const { return !requests.empty(); }  // presence alone is soft state
  void Clear() {
    requests.clear();
    presence.clear();
    session_counters.clear();
    now_ms = 0;
    replies.clear();
    status = StoreStatus::Ok();
    presence_written = presence_dropped = 0;
    deadline_ms = 0;
  }
};

// One buddy of a GET, with the presence the engine holds (none if never stored).
struct BuddyRow {
  std::string id;
  bool is_protected = false;  // the buddy's account has a password
  bool has_presence = false;
  Presence presence;
};

// A GET's read. The caller owns it (and may reuse it for the next read); the engine
// fills the results and calls OnBuddiesRead.
class BuddyQuery {
 public:
  std::string user;
  // --- Results.
  StoreStatus status;
  bool exists = false;          // false: no such user
  bool user_protected = false;  // the user's account has a password
  std::vector<BuddyRow> rows;   // sorted by buddy id (byte order)

  virtual void OnBuddiesRead() = 0;

 protected:
  ~BuddyQuery() = default;
};

// An account's credentials, read before a log-in (the hash is verified off the loop).
class AccountQuery {
 public:
  std::string user;
  // --- Results.
  StoreStatus status;
  bool exists = false;
  std::string password_hash;  // empty: an old-style account without a password

  virtual void OnAccountRead() = 0;

 protected:
  ~AccountQuery() = default;
};

// A session granted at log-in, read to check a proof.
class SessionQuery {
 public:
  std::string session;
  // --- Results.
  StoreStatus status;
  bool exists = false;
  std::string user;
  int64_t expires_ms = 0;
  uint64_t account_counter = 0;   // highest counter of the session's proven ADD/DEL
  uint64_t datagram_counter = 0;  // highest counter of its proven SET/GET (as written behind)

  virtual void OnSessionRead() = 0;

 protected:
  ~SessionQuery() = default;
};

// The random secret every server sharing a store derives its keys from.
class SecretQuery {
 public:
  std::string candidate;  // stored if the store has none yet (the first server to start)
  // --- Results.
  StoreStatus status;
  std::string secret;     // the stored one, the same for every server

  virtual void OnSecretRead() = 0;

 protected:
  ~SecretQuery() = default;
};

class Store {
 public:
  class WriteSink {
   public:
    virtual void OnBatchWritten(WriteBatch& batch) = 0;

   protected:
    ~WriteSink() = default;
  };

  virtual ~Store() = default;

  // Applies `batch` as one transaction and calls sink.OnBatchWritten(*batch) once, with
  // batch->status ok only if the transaction is durable as configured. On any other
  // status nothing of the batch was applied, and nothing of it will be later.
  // REQUIRES: no other batch is in flight; *batch stays alive until the callback.
  virtual void Write(WriteBatch* batch, WriteSink& sink) = 0;
  // Reads `query->user`'s buddies and their stored presence, then calls
  // query->OnBuddiesRead(). Any number of reads may be in flight.
  virtual void ReadBuddies(BuddyQuery* query) = 0;
  virtual void ReadAccount(AccountQuery* query) = 0;
  virtual void ReadSession(SessionQuery* query) = 0;
  // Start-up: the shared secret (created from query->candidate by the first server).
  virtual void ReadSecret(SecretQuery* query) = 0;
  // Stops the engine's own handles. Whatever is in flight completes first, with an error
  // status; nothing completes afterwards.
  virtual void Close() = 0;
  // One line for the log: "sqlite im.db (synchronous=FULL)".
  virtual std::string Describe() const = 0;
  // The engine's own counters for the stats line: "busy retries 3".
  virtual std::string Stats() const = 0;
};

}  // namespace im::server
