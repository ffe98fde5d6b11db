// The PostgreSQL engine: accounts, buddy lists and presence in one PostgreSQL database
// that any number of im-server processes on any number of machines share. The only file
// that includes libpq-fe.h.
//
// One connection, driven by libpq's asynchronous API on the loop: PQconnectStart /
// PQconnectPoll under a uv_poll (re-armed after every poll step, since libpq may swap its
// socket), then non-blocking pipeline mode. Every operation is one pipeline segment
// ending in a sync; their results come back in order (a FIFO of Ops). A WriteBatch is
// one transaction (BEGIN; SELECT im_write_batch(...); COMMIT) whose whole logic runs in a
// server-side function, so every rule of WriteBatch holds across servers: rows are
// checked and changed inside the transaction, REG inserts with ON CONFLICT DO NOTHING.
//
// Trouble stays bounded (docs/DESIGN.md, "The PostgreSQL engine"):
//   - not connected: writes and reads fail at once (500), a reconnect runs with backoff
//     (100 ms doubling to 2 s), each state change logged once;
//   - connected but slow: every Op has a deadline (a write its batch's, a read kReadMs);
//     the transaction also checks that deadline itself (in the database's clock, a
//     margin before ours) and rolls back past it, so a batch that comes too late never
//     commits; a write past its deadline, or the oldest Op past its own, resets the
//     connection;
//   - a connection lost with a write in flight leaves the batch in doubt: the engine
//     reconnects at once, ends the old backend and looks the batch's token up in
//     im_batches (the function stores its replies there inside the transaction), and
//     answers the truth if it learns it before the deadline. Otherwise the batch is
//     answered 500 at its deadline and checked after the next connect: if it did commit
//     (the database crashed between the commit and its reply) that is logged and counted
//     ("in doubt committed").
//
// Host names are refused (they need a blocking getaddrinfo inside libpq): give a socket
// directory (host=/run/postgresql), an IP literal (host=10.0.0.5) or hostaddr=. Loop
// thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net/timer.h"
#include "server/store.h"

struct pg_conn;
struct pg_result;

namespace im::server {

class PgStore final : public Store {
 public:
  struct Options {
    std::string conninfo;   // what libpq parses: a postgresql:// URI or "key=value ..."
    std::string shown;      // for Describe(): the URL without a password
    int64_t max_users = 0;  // 0: no limit
    uint64_t connect_timeout_ms = 5000;  // connect and schema; the conninfo's connect_timeout (s), if given
    // Presence rows older than this are purged (as PresencePurge in store.h says); 0: kept.
    int64_t presence_ttl_ms = 0;
  };
  static constexpr uint64_t kReadMs = 1000;         // a read answers within this (else 500)
  static constexpr uint64_t kSecretMs = 5000;       // the start-up read of the shared secret
  static constexpr uint64_t kMinBackoffMs = 100;
  static constexpr uint64_t kMaxBackoffMs = 2000;
  static constexpr size_t kMaxInFlight = 1024;     // reads past this many Ops answer 500 at once
  static constexpr size_t kMaxUnresolved = 64;     // batches answered 500 in doubt, still to look up

  // "postgresql://..." / "postgres://..." (a libpq URI), or "postgresql:KEY=VALUE ..." (a
  // libpq keyword/value string). False with *error for a malformed one, a host name, or
  // an engine option (--sync, --cache-mib are SQLite's).
  static bool ParseOptions(const std::string& url, const std::vector<std::pair<std::string, std::string>>& options,
                           int64_t max_users, Options* out, std::string* error);
  // Connects and creates the schema (if needed), running the loop until it is done or
  // connect_timeout_ms passed. Start-up only: nothing else may be on the loop yet.
  static std::unique_ptr<PgStore> Open(uv_loop_t* loop, const Options& options, std::string* error);
  ~PgStore() override;

  void Write(WriteBatch* batch, WriteSink& sink) override;
  void ReadBuddies(BuddyQuery* query) override;
  void ReadAccount(AccountQuery* query) override;
  void ReadSession(SessionQuery* query) override;
  void ReadSecret(SecretQuery* query) override;
  void Close() override;
  std::string Describe() const override;
  std::string Stats() const override;

  bool TEST_connected() const { return state_ == State::kReady; }

 private:
  enum class State { kIdle, kConnecting, kSetup, kReady, kClosed };
  enum class OpKind { kSetup, kResolve, kWrite, kIgnore, kPurge, kBuddies, kAccount, kSession, kSecret };
  struct Op {
    OpKind kind;
    void* target = nullptr;      // the query, or nullptr once answered early (abandoned)
    uint64_t deadline_ms = 0;    // uv_now by which it must be answered
    int data_index = -1;         // which result of the segment holds the rows
    int results = 0;             // results seen so far
    pg_result* data = nullptr;   // that result, owned
    std::string error;           // the first error of the segment
    uint64_t token = 0;          // kResolve: the batch looked up
    std::string app;             // kResolve: the application_name it was sent under
    bool ended = false;          // kResolve: its old backend is gone
  };

  PgStore(uv_loop_t* loop, const Options& options);
  void StartConnect();
  void ContinueConnect();
  void OnConnected();
  void OnSocket(int status, int events);
  void Watch(int events);
  void Flush();
  void ReadResults();
  void FinishOp(Op& op);
  void FinishSetup(Op& op);
  void FinishResolve(Op& op);
  void FinishWrite(Op& op);
  void Reset(const std::string& why);
  void ScheduleReconnect();
  void ArmDeadline();
  void OnDeadline();
  void AnswerWrite(StoreStatus status, const std::string& replies, uint64_t written, uint64_t dropped);
  void SendResolve(uint64_t token, const std::string& app);
  void GiveUpInDoubt();
  void OnPurgeTimer();
  void FinishPurge(Op& op);
  Op* Push(OpKind kind, void* target, uint64_t deadline_ms, int data_index);
  bool Send(const char* sql, const std::vector<std::string>& params, bool binary_result = false,
            const std::vector<bool>& binary_params = {});
  bool Sync();
  void FailReads(const std::string& why);
  static void Answer(Op& op, const StoreStatus& status);
  StoreStatus NotReady() const;
  bool CanRead() const;

  uv_loop_t* loop_;
  Options options_;
  State state_ = State::kIdle;
  pg_conn* conn_ = nullptr;
  uv_poll_t* poll_ = nullptr;   // on PQsocket(conn_); freed in its close callback
  int poll_fd_ = -1;
  int poll_events_ = 0;
  net::Timer connect_timer_;    // connect_timeout_ms per attempt
  net::Timer backoff_timer_;    // the next attempt
  net::Timer deadline_timer_;   // the earliest deadline among the Ops in flight
  net::Timer purge_timer_;      // the next presence purge step (presence_ttl_ms > 0)
  bool purge_failing_ = false;  // said once, not every step while it lasts
  uint64_t backoff_ms_ = 0;
  std::string app_name_;        // application_name of this connection: finds its backend later
  std::string last_problem_;    // logged once per state change
  int64_t clock_offset_ms_ = 0; // database wall clock minus ours, measured at connect
  int64_t setup_sent_wall_ms_ = 0;
  bool opening_ = false;        // inside Open(): a failure ends Open instead of a retry
  std::string open_error_;
  bool down_ = false;           // the loss was logged; the next connect is logged
  std::deque<Op> ops_;          // in flight, in the order their results come back

  // The batch being written: sent (in ops_), or in doubt after a lost connection.
  WriteBatch* batch_ = nullptr;
  WriteSink* sink_ = nullptr;
  uint64_t token_ = 0;          // its row in im_batches
  std::string batch_app_;       // the application_name of the connection it was sent on
  bool in_doubt_ = false;       // sent on a connection that was lost before COMMIT's reply
  // Batches answered 500 while in doubt, still to be looked up after a connect.
  std::vector<std::pair<uint64_t, std::string>> unresolved_;

  // Counters for Stats().
  uint64_t reconnects_ = 0;      // connect attempts after a loss or a failed attempt
  uint64_t deadline_resets_ = 0;
  uint64_t resolved_ = 0;
  uint64_t in_doubt_committed_ = 0;
  uint64_t presence_purged_ = 0;
};

}  // namespace im::server
