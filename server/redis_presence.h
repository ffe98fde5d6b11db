// Presence in Redis (--presence redis://IP:PORT or redis+unix:///path): one key per
// user, "im:presence:<id>", holding a versioned record with the TTL as its expiry, so
// Redis holds only the online population. Heartbeats arrive coalesced by GroupCommit and
// go as one EVALSHA (SCRIPT LOAD at connect; EVAL again on NOSCRIPT) per chunk whose Lua script keeps the newer heartbeat across servers;
// a GET's buddies are one MGET. hiredis async on the server's loop.
//
// Trouble stays bounded: commands in flight are capped (past it SETs are dropped and GETs
// answered with an error), a command that gets no reply within kCommandTimeoutMs, or a
// connect that does not finish within kConnectTimeoutMs, drops the connection (hiredis
// 0.14 has no timeouts of its own), and the engine reconnects with backoff, logging once
// per change of state. While it is down SETs are counted and dropped, GETs fail at once;
// presence comes back with the next heartbeats. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "net/timer.h"
#include "server/presence_store.h"

struct redisAsyncContext;

namespace im::server {

struct RedisAddress {
  std::string ip;    // numeric IPv4 or IPv6; empty for a unix socket
  int port = 6379;
  std::string unix_path;
  std::string shown;  // for logs
};

// Parses "redis://IP[:PORT]" / "redis://[IPv6]:PORT" / "redis+unix:///path". Host names
// are refused (hiredis would resolve them with a blocking getaddrinfo on the loop).
bool ParseRedisUrl(const std::string& url, RedisAddress* out, std::string* error);

// The record stored per user: "v1|updated_ms|proven|online|port|ip". A new field of
// Presence is one more field at the end (old readers ignore it, new readers default it).
std::string EncodePresence(const Presence& p);
bool DecodePresence(std::string_view record, Presence* p);

class RedisPresence final : public PresenceStore {
 public:
  struct Counters {
    uint64_t written = 0;        // records handed to Redis
    uint64_t stale = 0;          // refused by the script: older than (or unproven over) the stored one
    uint64_t dropped = 0;        // SETs not sent: Redis down or too much in flight
    uint64_t reads = 0;          // MGETs answered
    uint64_t read_errors = 0;    // reads failed (down, timed out, too much in flight)
    uint64_t timeouts = 0;       // connections dropped for a late reply or a slow connect
    uint64_t reconnects = 0;     // connection attempts after the first
  };

  RedisPresence(uv_loop_t* loop, RedisAddress address, int64_t ttl_ms);
  ~RedisPresence() override;
  RedisPresence(const RedisPresence&) = delete;
  RedisPresence& operator=(const RedisPresence&) = delete;

  // Starts connecting; never fails (a Redis that is down is retried).
  void Start();
  void Write(const PresenceMap& presence, int64_t now_ms) override;
  void Forget(std::string_view user) override;
  void Read(PresenceQuery* query) override;
  void Close() override;
  std::string Describe() const override;
  std::string Stats() const override;
  bool connected() const { return state_ == State::kReady; }
  const Counters& counters() const { return counters_; }

  static constexpr uint64_t kConnectTimeoutMs = 1000;
  static constexpr uint64_t kCommandTimeoutMs = 1000;
  static constexpr uint64_t kMinBackoffMs = 100, kMaxBackoffMs = 5000;
  static constexpr size_t kMaxInFlight = 1024;  // commands; each GET or SET chunk is one
  static constexpr size_t kWriteChunk = 1000;   // users per EVALSHA: keeps Redis's other clients moving

 private:
  enum class State { kIdle, kConnecting, kReady, kClosed };
  struct Op;
  static void OnConnect(const redisAsyncContext* ac, int status);
  static void OnDisconnect(const redisAsyncContext* ac, int status);
  static void OnReply(redisAsyncContext* ac, void* reply, void* privdata);
  void Connect();
  void Drop(const std::string& why);       // frees the connection (pending ops fail)
  void Lost(const std::string& why);       // the connection is gone: log once, back off
  void Send(std::unique_ptr<Op> op, bool eval);
  void Complete(Op& op, void* reply);
  void OnTick();
  void Overlay(BuddyRow& row) const;

  uv_loop_t* loop_;
  RedisAddress address_;
  int64_t ttl_ms_;
  redisAsyncContext* ac_ = nullptr;
  State state_ = State::kIdle;
  bool down_logged_ = false;  // "unreachable" was logged; the next success logs "back"
  bool ever_connected_ = false;
  uint64_t backoff_ms_ = kMinBackoffMs;
  uint64_t connect_started_ms_ = 0;
  std::string sha_;  // the script's SHA-1 as Redis computed it (SCRIPT LOAD), for EVALSHA
  std::deque<uint64_t> sent_ms_;
  std::deque<Op*> writes_in_flight_;  // sent, not answered (owned by hiredis until then)  // send time of each command in flight, oldest first
  net::Timer backoff_timer_;
  net::Timer tick_;  // connect and command deadlines
  Counters counters_;
};

}  // namespace im::server
