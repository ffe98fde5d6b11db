#include "server/redis_presence.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <vector>

#include "net/address.h"
#include "net/log.h"

namespace im::server {

namespace {

constexpr std::string_view kKeyPrefix = "im:presence:";

// KEYS: the users' keys. ARGV[1]: now_ms, ARGV[2]: ttl_ms, ARGV[2+i]: KEYS[i]'s record.
// A stored time ahead of now counts as now (a server with a fast clock cannot freeze a
// user's presence), an unproven record never replaces a proven one, and a proven one
// never replaces a record of the same session with a higher datagram counter (a SET
// replayed to another backend). Returns how many were written.
constexpr std::string_view kCompareAndSet = R"lua(
local now = tonumber(ARGV[1])
local written = 0
for i, key in ipairs(KEYS) do
  local new = ARGV[i + 2]
  local nt, np = string.match(new, '^v1|(%-?%d+)|(%d)|')
  local keep = false
  local old = redis.call('GET', key)
  if old then
    local ot, op = string.match(old, '^v1|(%-?%d+)|(%d)|')
    if ot then
      keep = tonumber(nt) < math.min(tonumber(ot), now) or (op == '1' and np == '0')
      local ns, nc = string.match(new, '|s=([%w_-]+)%.(%d+)$')
      local os, oc = string.match(old, '|s=([%w_-]+)%.(%d+)$')
      if ns and ns == os and tonumber(nc) <= tonumber(oc) then keep = true end
    end
  end
  if not keep then
    redis.call('SET', key, new, 'PX', ARGV[2])
    written = written + 1
  end
end
return written
)lua";

}  // namespace

bool ParseRedisUrl(const std::string& url, RedisAddress* out, std::string* error) {
  *out = RedisAddress{};
  out->shown = url;
  constexpr std::string_view kUnix = "redis+unix://", kTcp = "redis://";
  if (url.starts_with(kUnix)) {
    out->unix_path = url.substr(kUnix.size());
    if (out->unix_path.empty() || out->unix_path[0] != '/') {
      *error = "--presence " + url + ": give an absolute socket path (redis+unix:///run/redis/redis.sock)";
      return false;
    }
    return true;
  }
  if (!url.starts_with(kTcp)) {
    *error = "--presence " + url + ": give redis://IP:PORT or redis+unix:///path";
    return false;
  }
  std::string rest = url.substr(kTcp.size());
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) {
      *error = "--presence " + url + ": unclosed [ in the address";
      return false;
    }
    out->ip = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') {
        *error = "--presence " + url + ": expected :PORT after ]";
        return false;
      }
      port = rest.substr(close + 2);
    }
  } else {
    size_t colon = rest.rfind(':');
    out->ip = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  if (!port.empty()) {
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
      *error = "--presence " + url + ": bad port \"" + port + "\"";
      return false;
    }
    out->port = value;
  }
  if (!net::IsNumericIp(out->ip)) {
    *error = "--presence " + url + ": \"" + out->ip +
             "\" is not a numeric IP address; give one (redis://10.0.0.5:6379) or a unix socket "
             "(redis+unix:///run/redis/redis.sock), since resolving a name would block the server";
    return false;
  }
  return true;
}

std::string EncodePresence(const Presence& p) {
  std::string out = "v1|";
  out += std::to_string(p.updated_ms);
  out += p.proven ? "|1|" : "|0|";
  out += p.online ? "1|" : "0|";
  out += std::to_string(p.port);
  out += '|';
  out += p.ip;
  // Added after the fields of the first release: a record without them has no chat key
  // and no proof stamp ("s=<session>.<counter>", last, so the script finds it).
  if (!p.chat_key.empty() || !p.proof_session.empty()) {
    out += '|';
    out += p.chat_key;
  }
  if (!p.proof_session.empty()) {
    out += "|s=";
    out += p.proof_session;
    out += '.';
    out += std::to_string(p.proof_counter);
  }
  return out;
}

bool DecodePresence(std::string_view record, Presence* p) {
  std::string_view fields[8];
  size_t n = 0;
  while (n < std::size(fields)) {
    size_t bar = record.find('|');
    fields[n++] = record.substr(0, bar);
    if (bar == std::string_view::npos) break;
    record.remove_prefix(bar + 1);
  }
  if (n < 6 || fields[0] != "v1") return false;
  auto number = [](std::string_view s, auto* v) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
    return ec == std::errc() && end == s.data() + s.size();
  };
  *p = Presence{};
  if (!number(fields[1], &p->updated_ms) || !number(fields[4], &p->port)) return false;
  p->proven = fields[2] == "1";
  p->online = fields[3] == "1";
  p->ip.assign(fields[5]);
  if (n > 6) p->chat_key.assign(fields[6]);
  if (n > 7 && fields[7].starts_with("s=")) {
    std::string_view stamp = fields[7].substr(2);
    size_t dot = stamp.rfind('.');
    if (dot == std::string_view::npos || !number(stamp.substr(dot + 1), &p->proof_counter)) return false;
    p->proof_session.assign(stamp.substr(0, dot));
  }
  return true;
}

// One command on its way: a GET's MGET (query set) or a chunk of SETs (args kept for an
// EVAL if Redis has forgotten the script).
struct RedisPresence::Op {
  RedisPresence* self = nullptr;
  PresenceQuery* query = nullptr;
  std::vector<std::string> args;  // writes: EVALSHA sha numkeys keys... now ttl records...
  size_t users = 0;
  bool script_load = false;
  bool forget = false;
  PresenceMap records;  // writes: what this chunk stores, for reads that pass it (Overlay)
};

RedisPresence::RedisPresence(uv_loop_t* loop, RedisAddress address, int64_t ttl_ms)
    : loop_(loop),
      address_(std::move(address)),
      ttl_ms_(ttl_ms),
      backoff_timer_(loop, this, [](void* self) { static_cast<RedisPresence*>(self)->Connect(); }),
      tick_(loop, this, [](void* self) { static_cast<RedisPresence*>(self)->OnTick(); }) {}

RedisPresence::~RedisPresence() { Close(); }

std::string RedisPresence::Describe() const { return "redis " + address_.shown + " (presence)"; }

std::string RedisPresence::Stats() const {
  auto n = [](uint64_t v) { return std::to_string(v); };
  return std::string("redis ") + (state_ == State::kReady ? "up" : "down") + ", written " + n(counters_.written) +
         ", stale " + n(counters_.stale) + ", dropped " + n(counters_.dropped) + ", reads " + n(counters_.reads) +
         ", read errors " + n(counters_.read_errors) + ", timeouts " + n(counters_.timeouts) + ", reconnects " +
         n(counters_.reconnects) + ", in flight " + n(sent_ms_.size());
}

void RedisPresence::Start() {
  tick_.Start(100, 100);
  tick_.Unref();  // the deadlines alone never keep the loop running
  Connect();
}

void RedisPresence::Connect() {
  if (state_ == State::kClosed) return;
  if (ever_connected_ || connect_started_ms_ != 0) ++counters_.reconnects;
  connect_started_ms_ = uv_now(loop_);
  redisAsyncContext* ac = address_.unix_path.empty() ? redisAsyncConnect(address_.ip.c_str(), address_.port)
                                                     : redisAsyncConnectUnix(address_.unix_path.c_str());
  if (ac == nullptr) return Lost("out of memory");
  if (ac->err != 0) {
    std::string why = ac->errstr;
    redisAsyncFree(ac);  // not attached yet: safe
    return Lost(why);
  }
  if (redisLibuvAttach(ac, loop_) != REDIS_OK) {
    // hiredis 0.14 cannot free a context whose attach failed; it leaks, once per failure.
    return Lost("cannot watch the connection");
  }
  ac->data = this;
  redisAsyncSetConnectCallback(ac, &RedisPresence::OnConnect);
  redisAsyncSetDisconnectCallback(ac, &RedisPresence::OnDisconnect);
  ac_ = ac;
  state_ = State::kConnecting;
}

void RedisPresence::OnConnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisPresence*>(ac->data);
  if (self == nullptr || ac != self->ac_) return;
  if (status != REDIS_OK) {
    std::string why = ac->errstr;
    self->ac_ = nullptr;  // hiredis frees it after this returns
    return self->Lost(why);
  }
  self->state_ = State::kReady;
  self->backoff_ms_ = kMinBackoffMs;
  if (self->down_logged_) {
    IM_LOG(kNotice, "redis: connected again to %s; presence comes back with the next heartbeats",
           self->address_.shown.c_str());
  } else if (!self->ever_connected_) {
    IM_LOG(kNotice, "redis: connected to %s", self->address_.shown.c_str());
  }
  self->down_logged_ = false;
  self->ever_connected_ = true;
  auto load = std::make_unique<Op>();
  load->script_load = true;
  load->args = {"SCRIPT", "LOAD", std::string(kCompareAndSet)};
  self->Send(std::move(load), false);
}

void RedisPresence::OnDisconnect(const redisAsyncContext* ac, int status) {
  auto* self = static_cast<RedisPresence*>(ac->data);
  if (self == nullptr || ac != self->ac_) return;  // dropped by us: already handled
  std::string why = status == REDIS_OK ? "connection closed" : ac->errstr;
  self->ac_ = nullptr;  // hiredis frees it after this returns
  self->Lost(why);
}

void RedisPresence::Drop(const std::string& why) {
  redisAsyncContext* ac = ac_;
  ac_ = nullptr;  // the callbacks below see it gone
  if (ac != nullptr) {
    ac->data = nullptr;
    redisAsyncFree(ac);  // every pending command's callback runs now with no reply
  }
  Lost(why);
}

void RedisPresence::Lost(const std::string& why) {
  if (state_ == State::kClosed) return;
  state_ = State::kIdle;
  if (!down_logged_) {
    down_logged_ = true;
    IM_LOG(kError, "redis %s: %s; SETs are dropped and GETs answer 500 until it is back, reconnecting",
           address_.shown.c_str(), why.c_str());
  }
  uint64_t delay = backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
  backoff_timer_.Start(delay);
}

void RedisPresence::OnTick() {
  uint64_t now = uv_now(loop_);
  if (state_ == State::kConnecting && now - connect_started_ms_ >= kConnectTimeoutMs) {
    ++counters_.timeouts;
    return Drop("connect timed out after " + std::to_string(kConnectTimeoutMs) + " ms");
  }
  if (state_ == State::kReady && !sent_ms_.empty() && now - sent_ms_.front() >= kCommandTimeoutMs) {
    ++counters_.timeouts;
    return Drop("no reply within " + std::to_string(kCommandTimeoutMs) + " ms");
  }
}

void RedisPresence::Write(const PresenceMap& presence, int64_t now_ms) {
  auto it = presence.begin();
  while (it != presence.end()) {
    size_t users = std::min(kWriteChunk, static_cast<size_t>(std::distance(it, presence.end())));
    if (state_ != State::kReady || sent_ms_.size() >= kMaxInFlight) {
      counters_.dropped += static_cast<uint64_t>(std::distance(it, presence.end()));
      return;
    }
    auto op = std::make_unique<Op>();
    op->users = users;
    op->args.reserve(5 + 2 * users);
    // Until Redis has told us the script's SHA-1 (SCRIPT LOAD at connect) the text goes.
    op->args.push_back(sha_.empty() ? "EVAL" : "EVALSHA");
    op->args.push_back(sha_.empty() ? std::string(kCompareAndSet) : sha_);
    op->args.push_back(std::to_string(users));
    auto first = it;
    for (size_t i = 0; i < users; ++i, ++it) op->args.push_back(std::string(kKeyPrefix) + it->first);
    op->args.push_back(std::to_string(now_ms));
    op->args.push_back(std::to_string(ttl_ms_));
    for (auto r = first; r != it; ++r) {
      op->args.push_back(EncodePresence(r->second));
      op->records.emplace(r->first, r->second);
    }
    Send(std::move(op), false);
  }
}

void RedisPresence::Forget(std::string_view user) {
  if (state_ != State::kReady || sent_ms_.size() >= kMaxInFlight) return;  // expires with its TTL anyway
  auto op = std::make_unique<Op>();
  op->forget = true;
  op->args = {"DEL", std::string(kKeyPrefix) + std::string(user)};
  Send(std::move(op), false);
}

void RedisPresence::Read(PresenceQuery* query) {
  std::vector<BuddyRow>& rows = *query->presence_rows;
  if (state_ != State::kReady || sent_ms_.size() >= kMaxInFlight) {
    ++counters_.read_errors;
    query->presence_status = StoreStatus::Error(state_ == State::kReady ? "redis: too many commands in flight"
                                                                        : "redis not connected");
    return query->OnPresenceRead();
  }
  query->presence_status = StoreStatus::Ok();
  if (rows.empty()) return query->OnPresenceRead();
  auto op = std::make_unique<Op>();
  op->query = query;
  op->args.reserve(rows.size() + 1);
  op->args.push_back("MGET");
  for (const BuddyRow& row : rows) op->args.push_back(std::string(kKeyPrefix) + row.id);
  Send(std::move(op), false);
}

void RedisPresence::Send(std::unique_ptr<Op> op, bool eval) {
  op->self = this;
  if (eval) op->args[0] = "EVAL", op->args[1] = std::string(kCompareAndSet);
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(op->args.size());
  lens.reserve(op->args.size());
  for (const std::string& a : op->args) argv.push_back(a.data()), lens.push_back(a.size());
  Op* raw = op.release();
  if (!raw->records.empty()) writes_in_flight_.push_back(raw);
  if (redisAsyncCommandArgv(ac_, &RedisPresence::OnReply, raw, static_cast<int>(argv.size()), argv.data(),
                            lens.data()) != REDIS_OK) {
    // Disconnecting: fail it as a lost reply would.
    sent_ms_.push_back(uv_now(loop_));
    return Complete(*raw, nullptr);
  }
  sent_ms_.push_back(uv_now(loop_));
}

void RedisPresence::OnReply(redisAsyncContext*, void* reply, void* privdata) {
  auto* op = static_cast<Op*>(privdata);
  op->self->Complete(*op, reply);
}

void RedisPresence::Complete(Op& op_ref, void* raw_reply) {
  std::unique_ptr<Op> op(&op_ref);
  if (!sent_ms_.empty()) sent_ms_.pop_front();  // replies come in the order sent
  if (!op->records.empty()) {
    auto w = std::find(writes_in_flight_.begin(), writes_in_flight_.end(), op.get());
    if (w != writes_in_flight_.end()) writes_in_flight_.erase(w);
  }
  auto* reply = static_cast<redisReply*>(raw_reply);
  if (op->forget) return;
  if (op->script_load) {
    if (reply != nullptr && reply->type == REDIS_REPLY_STRING) sha_.assign(reply->str, reply->len);
    return;
  }
  if (op->query == nullptr) {
    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR &&
        std::string_view(reply->str, reply->len).starts_with("NOSCRIPT") && ac_ != nullptr &&
        state_ == State::kReady) {
      return Send(std::move(op), true);  // Redis restarted or flushed its scripts
    }
    if (reply != nullptr && reply->type == REDIS_REPLY_INTEGER) {
      auto written = static_cast<uint64_t>(reply->integer);
      counters_.written += written;
      counters_.stale += op->users - std::min<uint64_t>(written, op->users);
    } else {
      counters_.dropped += op->users;
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
        IM_LOG(kWarn, "redis: presence write refused: %.*s", static_cast<int>(reply->len), reply->str);
      }
    }
    return;
  }
  PresenceQuery* query = op->query;
  std::vector<BuddyRow>& rows = *query->presence_rows;
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != rows.size()) {
    ++counters_.read_errors;
    query->presence_status = StoreStatus::Error(
        reply == nullptr ? "redis: no reply (connection lost or timed out)"
                         : reply->type == REDIS_REPLY_ERROR ? "redis: " + std::string(reply->str, reply->len)
                                                            : "redis: unexpected reply to MGET");
    return query->OnPresenceRead();
  }
  ++counters_.reads;
  for (size_t i = 0; i < rows.size(); ++i) {
    const redisReply* e = reply->element[i];
    BuddyRow& row = rows[i];
    row.has_presence = e->type == REDIS_REPLY_STRING && DecodePresence(std::string_view(e->str, e->len), &row.presence);
    Overlay(row);
    // A stranger's SET may be stored for a protected user (Redis cannot see accounts);
    // it never speaks for them.
    if (row.has_presence && row.is_protected && !row.presence.proven) row.has_presence = false;
  }
  query->OnPresenceRead();
}

// GroupCommit forgets a SET once it is handed here, but a GET sent before its write
// reaches Redis reads the older record: the writes still in flight are newer, as the
// script would decide (newer wins, unproven never over proven).
void RedisPresence::Overlay(BuddyRow& row) const {
  for (const Op* w : writes_in_flight_) {
    auto it = w->records.find(row.id);
    if (it == w->records.end()) continue;
    const Presence& p = it->second;
    if (row.has_presence && (p.updated_ms < row.presence.updated_ms || (row.presence.proven && !p.proven))) continue;
    row.presence = p;
    row.has_presence = true;
  }
}

void RedisPresence::Close() {
  if (state_ == State::kClosed) return;
  backoff_timer_.Stop();
  tick_.Stop();
  redisAsyncContext* ac = ac_;
  ac_ = nullptr;
  if (ac != nullptr) {
    ac->data = nullptr;
    redisAsyncFree(ac);  // pending reads complete with an error now
  }
  state_ = State::kClosed;
}

}  // namespace im::server
