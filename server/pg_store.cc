#include "server/pg_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "net/address.h"
#include "net/handle.h"
#include "net/log.h"
#include "server/wall_clock.h"

namespace im::server {
namespace {

// The schema and the batch function, created on every connect inside one transaction
// that holds an advisory lock, so servers starting at once never race on DDL. Text keys
// use the "C" collation: GET lists buddies in byte order whatever the database's locale.
// Sessions hold no key (docs/DESIGN.md). im_batches keeps each batch's replies for ten
// minutes under a random token, so a batch whose COMMIT reply was lost can be looked up.
const char* const kSchema[] = {
    "SELECT pg_advisory_xact_lock(7305001)",
    R"sql(CREATE TABLE IF NOT EXISTS users(
  id      text COLLATE "C" PRIMARY KEY,
  pw_hash text))sql",
    R"sql(CREATE TABLE IF NOT EXISTS buddies(
  owner           text COLLATE "C" NOT NULL,
  buddy           text COLLATE "C" NOT NULL,
  buddy_protected boolean NOT NULL DEFAULT false,
  PRIMARY KEY (owner, buddy)))sql",
    R"sql(CREATE TABLE IF NOT EXISTS sessions(
  sid              text COLLATE "C" PRIMARY KEY,
  owner            text COLLATE "C" NOT NULL,
  expires_ms       bigint NOT NULL,
  account_counter  bigint NOT NULL DEFAULT 0,
  datagram_counter bigint NOT NULL DEFAULT 0))sql",
    "CREATE TABLE IF NOT EXISTS secrets(name text PRIMARY KEY, value bytea NOT NULL)",
    R"sql(CREATE TABLE IF NOT EXISTS presence(
  uid        text COLLATE "C" PRIMARY KEY,
  online     boolean NOT NULL,
  ip         text NOT NULL,
  port       integer NOT NULL,
  updated_ms bigint NOT NULL,
  chat_key   text NOT NULL DEFAULT ''))sql",
    "CREATE TABLE IF NOT EXISTS im_counters(name text PRIMARY KEY, value bigint NOT NULL)",
    // Counts the users only the first time (the one-time filter skips the scan after).
    "INSERT INTO im_counters SELECT 'users', count(*) FROM users "
    "WHERE NOT EXISTS (SELECT 1 FROM im_counters WHERE name = 'users') ON CONFLICT DO NOTHING",
    // The count's shards (see im_count_user); the user count is the sum of 'users' and these.
    "INSERT INTO im_counters SELECT 'users/' || n, 0 FROM generate_series(0, 15) AS n ON CONFLICT DO NOTHING",
    R"sql(CREATE TABLE IF NOT EXISTS im_batches(
  token   bigint PRIMARY KEY,
  at_ms   bigint NOT NULL,
  replies text NOT NULL,
  written integer NOT NULL,
  dropped integer NOT NULL))sql",
    // An O(1) user count for --max-users, whatever inserts the rows. The row an UPDATE
    // touches stays locked until COMMIT, so one counter row made every server's REG batch
    // wait for the previous one's fsync; each transaction picks one of 16 shards instead
    // (by its id, so two batches in flight land on different rows).
    R"sql(CREATE OR REPLACE FUNCTION im_count_user() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  UPDATE im_counters SET value = value + 1 WHERE name = 'users/' || (txid_current() % 16);
  RETURN NULL;
END $fn$)sql",
    // Indexes and the trigger only when missing: CREATE INDEX IF NOT EXISTS and CREATE OR
    // REPLACE TRIGGER lock the table against writers first, and every reconnect of every
    // server runs this.
    R"sql(DO $do$ BEGIN
  IF to_regclass('sessions_by_expiry') IS NULL THEN
    CREATE INDEX sessions_by_expiry ON sessions(expires_ms);
  END IF;
  IF to_regclass('im_batches_by_age') IS NULL THEN
    CREATE INDEX im_batches_by_age ON im_batches(at_ms);
  END IF;
  IF to_regclass('presence_by_age') IS NULL THEN  -- the purge finds expired presence by it
    CREATE INDEX presence_by_age ON presence(updated_ms);
  END IF;
  -- Tables made before encrypted chat gain the chat key's fingerprint.
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'presence'::regclass AND attname = 'chat_key'
                 AND NOT attisdropped) THEN
    ALTER TABLE presence ADD COLUMN chat_key text NOT NULL DEFAULT '';
  END IF;
  -- im_write_batch counts its own inserts once per batch (a row trigger's call was a third
  -- of a REG batch's time), so the trigger skips them; triggers made before that are replaced.
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'users_counted' AND tgrelid = 'users'::regclass
                 AND tgqual IS NOT NULL) THEN
    DROP TRIGGER IF EXISTS users_counted ON users;
    CREATE TRIGGER users_counted AFTER INSERT ON users FOR EACH ROW
      WHEN (current_setting('im.counted', true) IS DISTINCT FROM 'batch') EXECUTE FUNCTION im_count_user();
  END IF;
END $do$)sql",
    // One WriteBatch, with the rules of server/store.h. Replies come back as names, in the
    // order of p_ops. The last statement checks the deadline in the database's own clock:
    // a batch that reaches this point too late (the database stalled, or the pipeline sat
    // in a socket buffer) rolls back instead of committing after the server gave up.
    R"sql(CREATE OR REPLACE FUNCTION im_write_batch(
    p_token bigint, p_deadline bigint, p_now bigint, p_durable boolean, p_max_users bigint,
    p_max_buddies integer, p_lock_ms integer, p_ops jsonb, p_presence jsonb, p_counters jsonb,
    OUT replies text, OUT written integer, OUT dropped integer)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_op jsonb; v_verb text; v_user text; v_buddy text; v_hash text;
  v_stored text; v_exists boolean; v_bstored text; v_bexists boolean;
  v_reply text; v_n bigint; v_out text[] := '{}'; v_p record; v_limit_locked boolean := false;
  v_now_ms bigint; v_new bigint := 0;
BEGIN
  PERFORM set_config('lock_timeout', p_lock_ms::text, true);
  PERFORM set_config('im.counted', 'batch', true);  -- v_new is added to the count at the end
  IF NOT p_durable THEN
    PERFORM set_config('synchronous_commit', 'off', true);  -- presence alone is soft state
  END IF;
  FOR v_op IN SELECT e.value FROM jsonb_array_elements(p_ops) WITH ORDINALITY AS e(value, n) ORDER BY e.n LOOP
    v_verb := v_op->>'v'; v_user := v_op->>'u'; v_buddy := v_op->>'b'; v_hash := v_op->>'h';
    v_reply := NULL;
    SELECT u.pw_hash INTO v_stored FROM users u WHERE u.id = v_user;
    v_exists := FOUND;
    IF v_verb = 'reg' THEN
      IF (v_op->>'l')::boolean THEN
        -- The server verified the password against this hash; it must still be the account's.
        IF v_exists AND v_stored IS NOT NULL AND v_stored = v_hash THEN
          INSERT INTO sessions(sid, owner, expires_ms) VALUES (v_op->>'s', v_user, (v_op->>'e')::bigint);
          v_reply := 'login';
        ELSE
          v_reply := 'wrongpw';
        END IF;
      ELSE
        IF NOT v_exists THEN
          IF p_max_users > 0 AND NOT v_limit_locked THEN
            -- Under a limit, batches that create accounts take turns (until COMMIT), so
            -- the sum below includes every other server's committed accounts: exact.
            PERFORM pg_advisory_xact_lock(7305002);
            v_limit_locked := true;
          END IF;
          IF p_max_users > 0 AND v_new + (SELECT sum(c.value) FROM im_counters c
                                          WHERE c.name = 'users' OR c.name LIKE 'users/%') >= p_max_users THEN
            v_reply := 'closed';
          ELSE
            -- Two servers registering one id: the second waits for the first's commit
            -- and inserts nothing; then it reads the winner's row like any existing one.
            INSERT INTO users(id, pw_hash) VALUES (v_user, v_hash) ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS v_n = ROW_COUNT;
            IF v_n > 0 THEN
              v_new := v_new + 1;
              IF coalesce(v_op->>'s', '') <> '' THEN
                INSERT INTO sessions(sid, owner, expires_ms) VALUES (v_op->>'s', v_user, (v_op->>'e')::bigint);
              END IF;
              v_reply := 'ok';
            ELSE
              SELECT u.pw_hash INTO v_stored FROM users u WHERE u.id = v_user;
            END IF;
          END IF;
        END IF;
        IF v_reply IS NULL THEN
          IF v_hash IS NULL THEN
            v_reply := CASE WHEN v_stored IS NULL THEN 'exists' ELSE 'pwreq' END;
          ELSE
            v_reply := CASE WHEN v_stored IS NULL THEN 'notprot' ELSE 'exists' END;
          END IF;
        END IF;
      END IF;
    ELSIF v_verb = 'add' OR v_verb = 'del' THEN
      IF v_exists AND v_stored IS NOT NULL THEN
        -- A proof's counter passes once, on any server: the row changes only if it is
        -- above the stored one (a concurrent update is re-checked on the new row).
        UPDATE sessions s SET account_counter = (v_op->>'pc')::bigint
          WHERE s.sid = coalesce(v_op->>'ps', '') AND s.owner = v_user AND s.expires_ms > p_now
            AND s.account_counter < (v_op->>'pc')::bigint;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        IF v_n = 0 THEN v_reply := 'unauth'; END IF;
      END IF;
      IF v_reply IS NULL THEN
        SELECT u.pw_hash INTO v_bstored FROM users u WHERE u.id = v_buddy;
        v_bexists := FOUND;
        IF NOT v_exists OR NOT v_bexists OR (v_verb = 'add' AND v_user = v_buddy) THEN
          v_reply := 'nouser';
        ELSIF v_verb = 'add' THEN
          -- The owner's row lock serialises ADDs to one list, so the bound holds across servers.
          PERFORM 1 FROM users u WHERE u.id = v_user FOR UPDATE;
          IF EXISTS (SELECT 1 FROM buddies b WHERE b.owner = v_user AND b.buddy = v_buddy) THEN
            v_reply := 'buddy';
          ELSIF (SELECT count(*) FROM buddies b WHERE b.owner = v_user) >= p_max_buddies THEN
            v_reply := 'full';
          ELSE
            INSERT INTO buddies(owner, buddy, buddy_protected) VALUES (v_user, v_buddy, v_bstored IS NOT NULL)
              ON CONFLICT DO NOTHING;
            GET DIAGNOSTICS v_n = ROW_COUNT;
            v_reply := CASE WHEN v_n > 0 THEN 'ok' ELSE 'buddy' END;
          END IF;
        ELSE
          DELETE FROM buddies b WHERE b.owner = v_user AND b.buddy = v_buddy;
          GET DIAGNOSTICS v_n = ROW_COUNT;
          v_reply := CASE WHEN v_n > 0 THEN 'ok' ELSE 'notbuddy' END;
        END IF;
      END IF;
    ELSE
      v_reply := 'ok';  -- PING: sessions answer it first
    END IF;
    v_out := v_out || v_reply;
  END LOOP;
  -- Presence in key order (two servers' batches lock rows in the same order). Dropped in
  -- the same statement: unknown users, unproven SETs of protected accounts, and anything
  -- older than the stored row, a stored time ahead of p_now counting as p_now.
  written := 0; dropped := 0;
  FOR v_p IN SELECT e.key, e.value FROM jsonb_each(p_presence) AS e ORDER BY e.key COLLATE "C" LOOP
    INSERT INTO presence AS p (uid, online, ip, port, updated_ms, chat_key)
      SELECT v_p.key, (v_p.value->>'o')::boolean, v_p.value->>'i', (v_p.value->>'p')::integer, (v_p.value->>'t')::bigint,
             coalesce(v_p.value->>'k', '')
      WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = v_p.key AND (u.pw_hash IS NULL OR (v_p.value->>'v')::boolean))
        -- A proven SET is a replay if its session already stored a higher counter.
        AND (v_p.value->>'s' IS NULL OR (v_p.value->>'n')::bigint >
             coalesce((SELECT s.datagram_counter FROM sessions s WHERE s.sid = v_p.value->>'s'), 0))
    ON CONFLICT (uid) DO UPDATE SET online = excluded.online, ip = excluded.ip, port = excluded.port,
      updated_ms = excluded.updated_ms, chat_key = excluded.chat_key
      WHERE excluded.updated_ms >= least(p.updated_ms, p_now);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n > 0 THEN written := written + 1; ELSE dropped := dropped + 1; END IF;
  END LOOP;
  UPDATE sessions s SET datagram_counter = greatest(s.datagram_counter, c.value::bigint)
    FROM jsonb_each_text(p_counters) AS c WHERE s.sid = c.key;
  IF p_durable THEN
    DELETE FROM sessions WHERE sid IN (SELECT s.sid FROM sessions s WHERE s.expires_ms < p_now LIMIT 64);
  END IF;
  IF v_new > 0 THEN  -- the shard stays locked for the short rest of the transaction only
    UPDATE im_counters SET value = value + v_new WHERE name = 'users/' || (txid_current() % 16);
  END IF;
  -- The cut-off is a variable, not clock_timestamp() in the WHERE: a volatile call there
  -- cannot be an index condition, and the scan of ten minutes of batches cost every batch
  -- milliseconds (5.7 ms at 9k rows).
  v_now_ms := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
  DELETE FROM im_batches WHERE token IN (SELECT b.token FROM im_batches b WHERE b.at_ms < v_now_ms - 600000 LIMIT 64);
  replies := array_to_string(v_out, ',');
  INSERT INTO im_batches VALUES (p_token, v_now_ms, replies, written, dropped);
  IF (extract(epoch FROM clock_timestamp()) * 1000)::bigint > p_deadline THEN
    RAISE EXCEPTION 'im: the batch reached the database after its deadline' USING ERRCODE = '57014';
  END IF;
END $fn$)sql",
};

const struct {
  const char* name;
  proto::Reply reply;
} kReplies[] = {
    {"ok", proto::Reply::kOk},
    {"exists", proto::Reply::kAlreadyRegistered},
    {"closed", proto::Reply::kRegistrationClosed},
    {"buddy", proto::Reply::kAlreadyBuddy},
    {"nouser", proto::Reply::kNoSuchUser},
    {"full", proto::Reply::kBuddyListFull},
    {"notbuddy", proto::Reply::kNotABuddy},
    {"login", proto::Reply::kLoggedIn},
    {"wrongpw", proto::Reply::kWrongPassword},
    {"pwreq", proto::Reply::kPasswordRequired},
    {"notprot", proto::Reply::kNotProtected},
    {"unauth", proto::Reply::kUnauthorized},
};

// "ok,exists" -> replies; false if a name is unknown or the count differs.
bool ParseReplies(std::string_view text, size_t count, std::vector<proto::Reply>* out) {
  out->clear();
  size_t pos = 0;
  while (count > 0 && pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view name = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    bool known = false;
    for (const auto& r : kReplies) {
      if (name == r.name) {
        out->push_back(r.reply);
        known = true;
        break;
      }
    }
    if (!known) return false;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out->size() == count;
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", u);
      *out += buf;
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

std::string Int(int64_t v) { return std::to_string(v); }
int64_t Clamp(uint64_t v) { return v > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v); }

const char* PgVerb(proto::Verb verb) {
  switch (verb) {
    case proto::Verb::kReg: return "reg";
    case proto::Verb::kAdd: return "add";
    case proto::Verb::kDel: return "del";
    case proto::Verb::kPing: return "ping";
  }
  return "ping";
}

std::string OpsJson(const WriteBatch& batch) {
  std::string j = "[";
  for (const StoreRequest& op : batch.requests) {
    if (j.size() > 1) j += ',';
    j += "{\"v\":\"";
    j += PgVerb(op.request.verb);
    j += "\",\"u\":";
    AppendJsonString(&j, op.request.user);
    j += ",\"b\":";
    AppendJsonString(&j, op.request.buddy);
    j += ",\"h\":";
    if (op.password_hash.empty()) {
      j += "null";
    } else {
      AppendJsonString(&j, op.password_hash);
    }
    j += ",\"l\":";
    j += op.login ? "true" : "false";
    j += ",\"s\":";
    AppendJsonString(&j, op.new_session);
    j += ",\"e\":" + Int(op.session_expires_ms) + ",\"ps\":";
    AppendJsonString(&j, op.proof_session);
    j += ",\"pc\":" + Int(Clamp(op.proof_counter)) + "}";
  }
  return j + "]";
}

std::string PresenceJson(const WriteBatch& batch) {
  std::string j = "{";
  for (const auto& [user, p] : batch.presence) {
    if (j.size() > 1) j += ',';
    AppendJsonString(&j, user);
    j += std::string(":{\"o\":") + (p.online ? "true" : "false") + ",\"i\":";
    AppendJsonString(&j, p.ip);
    j += ",\"p\":" + Int(p.port) + ",\"t\":" + Int(p.updated_ms) + ",\"v\":" + (p.proven ? "true" : "false");
    if (!p.chat_key.empty()) {
      j += ",\"k\":";
      AppendJsonString(&j, p.chat_key);
    }
    if (!p.proof_session.empty()) {
      j += ",\"s\":";
      AppendJsonString(&j, p.proof_session);
      j += ",\"n\":" + Int(Clamp(p.proof_counter));
    }
    j += "}";
  }
  return j + "}";
}

std::string CountersJson(const WriteBatch& batch) {
  std::string j = "{";
  for (const auto& [session, counter] : batch.session_counters) {
    if (j.size() > 1) j += ',';
    AppendJsonString(&j, session);
    j += ":" + Int(Clamp(counter));
  }
  return j + "}";
}

uint64_t RandomU63() {
  uint64_t v = 0;
  uv_random(nullptr, nullptr, &v, sizeof v, 0, nullptr);
  return v & (UINT64_MAX >> 1);
}

std::string Trim(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  size_t nl;
  while ((nl = s.find('\n')) != std::string::npos) s[nl] = ' ';
  return s;
}

}  // namespace

bool PgStore::ParseOptions(const std::string& url, const std::vector<std::pair<std::string, std::string>>& options,
                           int64_t max_users, Options* out, std::string* error) {
  if (!options.empty()) {
    *error = "postgresql: option " + options.front().first +
             " is SQLite's; give libpq parameters in the URL (postgresql://...?connect_timeout=5)";
    return false;
  }
  Options o;
  o.max_users = max_users;
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    o.conninfo = url;
  } else {
    o.conninfo = url.substr(url.find(':') + 1);  // "postgresql:host=/run/postgresql dbname=im"
  }
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(o.conninfo.c_str(), &parse_error);
  if (parsed == nullptr) {
    *error = "--store " + url + ": " + (parse_error ? Trim(parse_error) : std::string("cannot parse"));
    PQfreemem(parse_error);
    return false;
  }
  std::string host, hostaddr, shown;
  bool ok = true;
  for (PQconninfoOption* opt = parsed; opt->keyword != nullptr; ++opt) {
    if (opt->val == nullptr || *opt->val == '\0') continue;
    std::string key = opt->keyword, val = opt->val;
    if (key == "host") host = val;
    if (key == "hostaddr") hostaddr = val;
    if (key == "connect_timeout") {
      int seconds = std::atoi(val.c_str());
      if (seconds > 0) o.connect_timeout_ms = static_cast<uint64_t>(seconds) * 1000;
    }
    if (key == "host" || key == "hostaddr" || key == "port" || key == "dbname" || key == "user") {
      shown += (shown.empty() ? "" : " ") + key + "=" + val;
    }
  }
  PQconninfoFree(parsed);
  // libpq resolves a host name with a blocking getaddrinfo inside PQconnectStart.
  if (hostaddr.empty() && !host.empty()) {
    size_t pos = 0;
    while (ok && pos <= host.size()) {
      size_t comma = host.find(',', pos);
      std::string one = host.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      if (!one.empty() && one[0] != '/' && one[0] != '@' && !net::IsNumericIp(one)) {
        *error = "--store " + url + ": host \"" + one +
                 "\" is a name, and resolving it would block the event loop: give its IP address "
                 "(postgresql://user@10.0.0.5/db, or hostaddr=) or a socket directory (host=/run/postgresql)";
        ok = false;
      }
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  if (!ok) return false;
  o.shown = shown.empty() ? "(libpq defaults)" : shown;
  *out = o;
  return true;
}

std::unique_ptr<PgStore> PgStore::Open(uv_loop_t* loop, const Options& options, std::string* error) {
  std::unique_ptr<PgStore> store(new PgStore(loop, options));
  store->opening_ = true;
  store->StartConnect();
  // The connect timer runs through the connect and the schema, so this loop ends.
  while (store->state_ != State::kReady && store->open_error_.empty()) uv_run(loop, UV_RUN_ONCE);
  store->opening_ = false;
  if (!store->open_error_.empty()) {
    *error = "postgresql " + options.shown + ": " + store->open_error_;
    store->Close();
    return nullptr;
  }
  return store;
}

PgStore::PgStore(uv_loop_t* loop, const Options& options)
    : loop_(loop),
      options_(options),
      connect_timer_(loop, this, [](void* self) {
        static_cast<PgStore*>(self)->Reset("no connection within " +
                                           std::to_string(static_cast<PgStore*>(self)->options_.connect_timeout_ms) +
                                           " ms");
      }),
      backoff_timer_(loop, this, [](void* self) { static_cast<PgStore*>(self)->StartConnect(); }),
      deadline_timer_(loop, this, [](void* self) { static_cast<PgStore*>(self)->OnDeadline(); }),
      purge_timer_(loop, this, [](void* self) { static_cast<PgStore*>(self)->OnPurgeTimer(); }) {
  if (options_.presence_ttl_ms > 0) {
    purge_timer_.Start(PresencePurge::kEveryMs);
    purge_timer_.Unref();
  }
}

PgStore::~PgStore() { Close(); }

std::string PgStore::Describe() const {
  return "postgresql " + options_.shown + " (pipeline, synchronous_commit=on)";
}

std::string PgStore::Stats() const {
  return "pg connect retries " + std::to_string(reconnects_) + " deadline resets " + std::to_string(deadline_resets_) +
         " in doubt resolved " + std::to_string(resolved_) + " in doubt committed " +
         std::to_string(in_doubt_committed_) + " presence purged " + std::to_string(presence_purged_);
}

StoreStatus PgStore::NotReady() const {
  if (state_ == State::kClosed) return StoreStatus::Error("shutting down");
  if (state_ == State::kReady) return StoreStatus::Busy("postgresql: too many reads in flight");
  return StoreStatus::Error("postgresql not connected" + (last_problem_.empty() ? "" : " (" + last_problem_ + ")"));
}

// --- Connection.

void PgStore::StartConnect() {
  if (state_ == State::kClosed) return;
  state_ = State::kConnecting;
  char name[40];
  snprintf(name, sizeof name, "im-server-%016llx", static_cast<unsigned long long>(RandomU63()));
  app_name_ = name;
  // expand_dbname: the first "dbname" is the whole conninfo; the later keys override it.
  const char* keywords[] = {"dbname", "application_name", "client_encoding", nullptr};
  const char* values[] = {options_.conninfo.c_str(), app_name_.c_str(), "UTF8", nullptr};
  conn_ = PQconnectStartParams(keywords, values, 1);
  if (conn_ == nullptr) return Reset("out of memory");
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  if (PQstatus(conn_) == CONNECTION_BAD) return Reset(Trim(PQerrorMessage(conn_)));
  connect_timer_.Start(options_.connect_timeout_ms);
  Watch(UV_WRITABLE);
}

void PgStore::Watch(int events) {
  int fd = PQsocket(conn_);
  if (fd < 0) return Reset("no socket");
  if (poll_ != nullptr && fd != poll_fd_) {
    poll_->data = nullptr;
    uv_close(net::AsHandle(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (poll_ == nullptr) {
    poll_ = new uv_poll_t;
    if (int rc = uv_poll_init(loop_, poll_, fd); rc != 0) {
      delete poll_;
      poll_ = nullptr;
      return Reset(std::string("uv_poll_init: ") + uv_strerror(rc));
    }
    poll_->data = this;
    poll_fd_ = fd;
  }
  // Re-armed every time: libpq may have closed its socket and opened another with the
  // same number, and uv_poll_start registers the descriptor afresh.
  poll_events_ = events;
  uv_poll_start(poll_, events, [](uv_poll_t* handle, int status, int ready) {
    if (handle->data != nullptr) static_cast<PgStore*>(handle->data)->OnSocket(status, ready);
  });
}

void PgStore::OnSocket(int status, int events) {
  int armed = poll_events_;
  if (status < 0) {
    // A socket error (POLLERR: the backend died with our pipeline unread). libuv has
    // stopped the handle, so it must be re-armed whatever happens next; libpq reads what
    // the backend sent before it went, then reports the error itself.
    events = UV_READABLE | UV_WRITABLE;
    poll_events_ = 0;
  }
  if (state_ == State::kConnecting) return ContinueConnect();  // re-arms or resets
  if (conn_ == nullptr) return;
  if (events & UV_WRITABLE) Flush();
  if (conn_ != nullptr && (events & UV_READABLE)) ReadResults();
  if (conn_ != nullptr && poll_events_ == 0) Watch(armed != 0 ? armed : UV_READABLE);
}

void PgStore::ContinueConnect() {
  switch (PQconnectPoll(conn_)) {
    case PGRES_POLLING_READING: return Watch(UV_READABLE);
    case PGRES_POLLING_WRITING: return Watch(UV_WRITABLE);
    case PGRES_POLLING_OK: return OnConnected();
    default: return Reset(Trim(PQerrorMessage(conn_)));
  }
}

void PgStore::OnConnected() {
  if (PQsetnonblocking(conn_, 1) != 0 || PQenterPipelineMode(conn_) != 1) {
    return Reset("cannot enter pipeline mode: " + Trim(PQerrorMessage(conn_)));
  }
  state_ = State::kSetup;
  // The connect timer goes on until the schema is done. The last query measures the
  // database's wall clock, in which the batch function checks our deadlines.
  size_t n = sizeof kSchema / sizeof kSchema[0];
  Push(OpKind::kSetup, this, uv_now(loop_) + options_.connect_timeout_ms, static_cast<int>(n + 4));
  Send("SET synchronous_commit = on", {});
  Send("SET client_min_messages = error", {});
  Send("BEGIN", {});
  for (const char* sql : kSchema) Send(sql, {});
  Send("COMMIT", {});
  setup_sent_wall_ms_ = WallClockMs();
  Send("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", {});
  Sync();
  if (in_doubt_) SendResolve(token_, batch_app_);
  auto unresolved = std::move(unresolved_);
  unresolved_.clear();
  for (const auto& [token, app] : unresolved) SendResolve(token, app);
  Flush();
}

void PgStore::FinishSetup(Op& op) {
  if (!op.error.empty() || op.data == nullptr || PQntuples(op.data) != 1) {
    return Reset("schema: " + (op.error.empty() ? std::string("no clock reading") : op.error));
  }
  int64_t now = WallClockMs();
  clock_offset_ms_ = std::atoll(PQgetvalue(op.data, 0, 0)) - (setup_sent_wall_ms_ + now) / 2;
  connect_timer_.Stop();
  state_ = State::kReady;
  backoff_ms_ = 0;
  if (down_) {
    IM_LOG(kNotice, "postgresql: connected again to %s (server %d)", options_.shown.c_str(), PQserverVersion(conn_));
  } else if (!opening_) {
    IM_LOG(kNotice, "postgresql: connected to %s", options_.shown.c_str());
  }
  down_ = false;
  last_problem_.clear();
}

void PgStore::Reset(const std::string& why) {
  if (state_ == State::kClosed && conn_ == nullptr) return;
  bool was_closed = state_ == State::kClosed;
  if (poll_ != nullptr) {
    // Stopped and closed before PQfinish closes the descriptor.
    poll_->data = nullptr;
    uv_poll_stop(poll_);
    uv_close(net::AsHandle(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    poll_ = nullptr;
  }
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
  connect_timer_.Stop();
  deadline_timer_.Stop();
  if (!was_closed) state_ = State::kIdle;
  last_problem_ = why;
  if (opening_) {
    open_error_ = why;
  } else if (!down_ && !was_closed) {
    down_ = true;
    IM_LOG(kError, "postgresql: %s; writes and reads answer 500 until it is back, reconnecting", why.c_str());
  }
  std::deque<Op> ops;
  ops.swap(ops_);
  bool write_sent = false;
  for (Op& op : ops) {
    if (op.kind == OpKind::kWrite && op.target == batch_) write_sent = true;
    if (op.kind == OpKind::kResolve && !(in_doubt_ && op.token == token_)) unresolved_.emplace_back(op.token, op.app);
    if (op.kind != OpKind::kWrite) Answer(op, StoreStatus::Error("postgresql: " + why));
    if (op.data != nullptr) PQclear(op.data);
  }
  if (batch_ != nullptr && write_sent) in_doubt_ = true;
  if (in_doubt_ && (was_closed || uv_now(loop_) >= batch_->deadline_ms)) GiveUpInDoubt();
  if (state_ == State::kClosed) return;
  if (opening_) return;
  ScheduleReconnect();
  ArmDeadline();
}

void PgStore::ScheduleReconnect() {
  ++reconnects_;
  // A batch in doubt is resolved as soon as possible: the first attempt goes at once.
  uint64_t delay = backoff_ms_;
  backoff_ms_ = std::clamp<uint64_t>(backoff_ms_ * 2, kMinBackoffMs, kMaxBackoffMs);
  backoff_timer_.Start(delay);
}

void PgStore::Close() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  backoff_timer_.Stop();
  purge_timer_.Stop();
  Reset("shutting down");
  if (batch_ != nullptr) AnswerWrite(StoreStatus::Error("shutting down"), "", 0, 0);
  connect_timer_.Stop();
  deadline_timer_.Stop();
  backoff_timer_.Stop();
}

// --- The pipeline.

PgStore::Op* PgStore::Push(OpKind kind, void* target, uint64_t deadline_ms, int data_index) {
  Op& op = ops_.emplace_back();
  op.kind = kind;
  op.target = target;
  op.deadline_ms = deadline_ms;
  op.data_index = data_index;
  ArmDeadline();
  return &op;
}

bool PgStore::Send(const char* sql, const std::vector<std::string>& params, bool binary_result,
                   const std::vector<bool>& binary_params) {
  if (conn_ == nullptr) return false;
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (size_t i = 0; i < params.size(); ++i) {
    values.push_back(params[i].data());
    lengths.push_back(static_cast<int>(params[i].size()));
    formats.push_back(i < binary_params.size() && binary_params[i] ? 1 : 0);
  }
  if (PQsendQueryParams(conn_, sql, static_cast<int>(params.size()), nullptr, values.data(), lengths.data(),
                        formats.data(), binary_result ? 1 : 0) == 1) {
    return true;
  }
  Reset("send: " + Trim(PQerrorMessage(conn_)));
  return false;
}

bool PgStore::Sync() {
  if (conn_ == nullptr) return false;
  if (PQpipelineSync(conn_) == 1) return true;
  Reset("sync: " + Trim(PQerrorMessage(conn_)));
  return false;
}

void PgStore::Flush() {
  if (conn_ == nullptr) return;
  int rc = PQflush(conn_);
  if (rc < 0) return Reset("write: " + Trim(PQerrorMessage(conn_)));
  int events = UV_READABLE | (rc == 1 ? UV_WRITABLE : 0);
  if (poll_ == nullptr || events != poll_events_) Watch(events);
}

void PgStore::ReadResults() {
  if (PQconsumeInput(conn_) != 1) return Reset("connection lost: " + Trim(PQerrorMessage(conn_)));
  bool after_null = false;
  while (conn_ != nullptr && !ops_.empty() && PQisBusy(conn_) == 0) {
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) {  // one query's results ended; two in a row: nothing more yet
      if (after_null) break;
      after_null = true;
      continue;
    }
    after_null = false;
    Op& op = ops_.front();
    ExecStatusType status = PQresultStatus(r);
    if (status == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      Op done = std::move(op);
      ops_.pop_front();
      FinishOp(done);
      if (done.data != nullptr) PQclear(done.data);
      continue;
    }
    if (op.error.empty() && status == PGRES_FATAL_ERROR) op.error = Trim(PQresultErrorMessage(r));
    if (op.error.empty() && status == PGRES_PIPELINE_ABORTED) op.error = "pipeline aborted";
    if (op.kind == OpKind::kResolve && op.results == 0 && status == PGRES_TUPLES_OK && PQntuples(r) == 1) {
      op.ended = std::strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    }
    if (op.results == op.data_index && status == PGRES_TUPLES_OK && op.data == nullptr) {
      op.data = r;
    } else {
      PQclear(r);
    }
    ++op.results;
  }
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_BAD) return Reset("connection lost");
  ArmDeadline();
}

void PgStore::FinishOp(Op& op) {
  switch (op.kind) {
    case OpKind::kSetup: return FinishSetup(op);
    case OpKind::kResolve: return FinishResolve(op);
    case OpKind::kWrite: return FinishWrite(op);
    case OpKind::kIgnore: return;
    case OpKind::kPurge: return FinishPurge(op);
    default: return Answer(op, op.error.empty() ? StoreStatus::Ok() : StoreStatus::Error("postgresql: " + op.error));
  }
}

void PgStore::ArmDeadline() {
  uint64_t earliest = UINT64_MAX;
  // The oldest Op counts even once answered: its result not coming means a stuck connection.
  if (!ops_.empty()) earliest = ops_.front().deadline_ms;
  for (const Op& op : ops_) {
    if (op.target != nullptr) earliest = std::min(earliest, op.deadline_ms);
  }
  if (in_doubt_ && batch_ != nullptr) earliest = std::min(earliest, batch_->deadline_ms);
  if (earliest == UINT64_MAX) return deadline_timer_.Stop();
  uint64_t now = uv_now(loop_);
  deadline_timer_.Start(earliest > now ? earliest - now : 0);
}

void PgStore::OnDeadline() {
  uint64_t now = uv_now(loop_);
  if (in_doubt_ && batch_ != nullptr && now >= batch_->deadline_ms) GiveUpInDoubt();
  // The oldest Op past its deadline, or anything that changes state past its own, means
  // the connection is not answering; a read behind others is answered now and its result
  // dropped when it comes.
  bool reset = !ops_.empty() && ops_.front().deadline_ms <= now;
  for (size_t i = 0; i < ops_.size() && !reset; ++i) {
    Op& op = ops_[i];
    if (op.target == nullptr || op.deadline_ms > now) continue;
    if (op.kind == OpKind::kWrite || op.kind == OpKind::kSetup || op.kind == OpKind::kResolve) {
      reset = true;
      break;
    }
    Answer(op, StoreStatus::Error("postgresql: no reply within its deadline"));
  }
  if (reset) {
    ++deadline_resets_;
    return Reset(state_ == State::kSetup ? "no schema within the connect timeout" : "no reply within a deadline");
  }
  ArmDeadline();
}

// --- The presence purge: soft state, so its own short transaction without fsync, 250
// rows at a time. The row's own age is checked again in the DELETE: a batch may have
// refreshed it since the subquery chose it (PostgreSQL rechecks only that qual on the
// newer version). A lock held elsewhere makes the step give up, not wait.

void PgStore::OnPurgeTimer() {
  if (state_ == State::kClosed) return;
  bool in_flight = false;
  for (const Op& op : ops_) in_flight = in_flight || op.kind == OpKind::kPurge;
  // Armed again at once, so a step lost with its connection does not end the purge.
  purge_timer_.Start(PresencePurge::kEveryMs);
  if (state_ != State::kReady || in_flight || ops_.size() >= kMaxInFlight) return;
  Push(OpKind::kPurge, this, uv_now(loop_) + kReadMs, 3);
  bool ok = Send("BEGIN", {}) && Send("SET LOCAL synchronous_commit = off", {}) &&
            Send("SET LOCAL lock_timeout = 200", {}) &&
            Send("WITH d AS (DELETE FROM presence p WHERE p.uid IN (SELECT q.uid FROM presence q WHERE q.updated_ms < "
                 "$1::bigint ORDER BY q.updated_ms LIMIT $2::integer) AND p.updated_ms < $1::bigint RETURNING 1) "
                 "SELECT count(*) FROM d",
                 {Int(WallClockMs() - options_.presence_ttl_ms), Int(PresencePurge::kRows)}) &&
            Send("COMMIT", {}) && Sync();
  if (ok) {  // as after a write: ends a transaction an error left aborted
    Push(OpKind::kIgnore, nullptr, uv_now(loop_) + kReadMs, -1);
    ok = Send("ROLLBACK", {}) && Sync();
  }
  if (ok) Flush();
}

void PgStore::FinishPurge(Op& op) {
  int64_t purged = 0;
  if (op.error.empty() && op.data != nullptr && PQntuples(op.data) == 1) purged = std::atoll(PQgetvalue(op.data, 0, 0));
  if (!op.error.empty() && !purge_failing_) IM_LOG(kWarn, "postgresql presence purge: %s", op.error.c_str());
  purge_failing_ = !op.error.empty();
  presence_purged_ += static_cast<uint64_t>(purged);
  if (state_ != State::kClosed && purged >= PresencePurge::kRows) purge_timer_.Start(PresencePurge::kBacklogMs);
}

// --- Writes.

void PgStore::Write(WriteBatch* batch, WriteSink& sink) {
  batch_ = batch;
  sink_ = &sink;
  batch->replies.clear();
  if (state_ != State::kReady) return AnswerWrite(NotReady(), "", 0, 0);
  uint64_t now = uv_now(loop_);
  if (now >= batch->deadline_ms) return AnswerWrite(StoreStatus::Busy("past its deadline before it was sent"), "", 0, 0);
  uint64_t remaining = batch->deadline_ms - now;
  // The database gives up a little before we do, in its own clock, so a batch that
  // commits at all commits before our deadline.
  uint64_t margin = std::min<uint64_t>(remaining / 4, 250);
  int64_t db_deadline = WallClockMs() + clock_offset_ms_ + static_cast<int64_t>(remaining - margin);
  token_ = RandomU63();
  batch_app_ = app_name_;
  Push(OpKind::kWrite, batch, batch->deadline_ms, 1);
  std::vector<std::string> params = {
      Int(static_cast<int64_t>(token_)), Int(db_deadline), Int(batch->now_ms), batch->durable() ? "true" : "false",
      Int(options_.max_users), Int(proto::kMaxBuddies), Int(static_cast<int64_t>(std::max<uint64_t>(remaining - margin, 1))),
      OpsJson(*batch), PresenceJson(*batch), CountersJson(*batch)};
  bool ok = Send("BEGIN", {}) &&
            Send("SELECT * FROM im_write_batch($1::bigint, $2::bigint, $3::bigint, $4::boolean, $5::bigint, "
                 "$6::integer, $7::integer, $8::jsonb, $9::jsonb, $10::jsonb)",
                 params) &&
            Send("COMMIT", {}) && Sync();
  // After an error inside BEGIN ... COMMIT the pipeline skips to the sync and leaves the
  // transaction aborted; this ROLLBACK ends it (and is a harmless no-op after a COMMIT).
  if (ok) {
    Push(OpKind::kIgnore, nullptr, batch->deadline_ms, -1);
    ok = Send("ROLLBACK", {}) && Sync();
  }
  if (ok) Flush();
}

void PgStore::FinishWrite(Op& op) {
  if (batch_ == nullptr || op.target != batch_) return;
  if (!op.error.empty() || op.data == nullptr || PQntuples(op.data) != 1) {
    // COMMIT never ran or failed: the transaction rolled back.
    return AnswerWrite(StoreStatus::Error("postgresql: " + (op.error.empty() ? "no result" : op.error)), "", 0, 0);
  }
  AnswerWrite(StoreStatus::Ok(), PQgetvalue(op.data, 0, 0), std::strtoull(PQgetvalue(op.data, 0, 1), nullptr, 10),
              std::strtoull(PQgetvalue(op.data, 0, 2), nullptr, 10));
}

void PgStore::GiveUpInDoubt() {
  in_doubt_ = false;
  // Bounded: a lookup that keeps failing must not grow the list (or each connect) forever.
  if (unresolved_.size() < kMaxUnresolved) unresolved_.emplace_back(token_, batch_app_);
  IM_LOG(kWarn, "postgresql: a batch was in flight when the connection was lost and could not be looked up "
                "before its deadline: answered 500, checked after the next connect");
  AnswerWrite(StoreStatus::Error("postgresql: connection lost with the batch in flight"), "", 0, 0);
}

void PgStore::AnswerWrite(StoreStatus status, const std::string& replies, uint64_t written, uint64_t dropped) {
  WriteBatch* batch = batch_;
  WriteSink* sink = sink_;
  if (batch == nullptr) return;
  batch_ = nullptr;
  sink_ = nullptr;
  in_doubt_ = false;
  if (status.ok() && !ParseReplies(replies, batch->requests.size(), &batch->replies)) {
    status = StoreStatus::Error("postgresql: unexpected replies \"" + replies + "\"");
  }
  if (!status.ok()) batch->replies.clear();
  batch->presence_written = status.ok() ? written : 0;
  batch->presence_dropped = status.ok() ? dropped : 0;
  batch->status = std::move(status);
  ArmDeadline();
  sink->OnBatchWritten(*batch);  // may start the next batch
}

// After a lost connection: end the old backend (its transaction can no longer commit
// once it is gone), then look for the batch's row. Committed: the row holds the replies.
void PgStore::SendResolve(uint64_t token, const std::string& app) {
  Op* op = Push(OpKind::kResolve, this, uv_now(loop_) + options_.connect_timeout_ms, 1);
  op->token = token;
  op->app = app;
  // True once no backend of that connection is left (none found, or it exited within
  // 1 s). pg_stat_activity is a snapshot per transaction, so this is asked only once; the
  // lookup is the next statement, with a snapshot taken after the old backend ended.
  Send("SELECT coalesce(bool_and(pg_terminate_backend(pid, 1000)), true) FROM pg_stat_activity "
       "WHERE application_name = $1",
       {app}) &&
      Send("SELECT b.replies, b.written, b.dropped FROM (SELECT 1) AS one LEFT JOIN im_batches b ON b.token = $1::bigint",
           {Int(static_cast<int64_t>(token))}) &&
      Sync();
}

void PgStore::FinishResolve(Op& op) {
  bool current = in_doubt_ && batch_ != nullptr && op.token == token_;
  bool known = op.error.empty() && op.ended && op.data != nullptr && PQntuples(op.data) == 1;
  if (!known) {
    // The old backend still runs (or the lookup failed): a current batch waits for its
    // deadline; an old one is looked up after the next connect.
    if (!current && unresolved_.size() < kMaxUnresolved) unresolved_.emplace_back(op.token, op.app);
    IM_LOG(kWarn, "postgresql: could not settle a batch in doubt yet (%s)",
           op.error.empty() ? "its old backend is still running" : op.error.c_str());
    return;
  }
  bool committed = PQgetisnull(op.data, 0, 0) == 0;
  ++resolved_;
  if (current) {
    IM_LOG(kNotice, "postgresql: the batch in flight when the connection was lost %s",
           committed ? "had committed: answered with its replies" : "had not committed: answered 500");
    if (!committed) return AnswerWrite(StoreStatus::Error("postgresql: connection lost before COMMIT"), "", 0, 0);
    return AnswerWrite(StoreStatus::Ok(), PQgetvalue(op.data, 0, 0), std::strtoull(PQgetvalue(op.data, 0, 1), nullptr, 10),
                       std::strtoull(PQgetvalue(op.data, 0, 2), nullptr, 10));
  }
  if (committed) {
    ++in_doubt_committed_;
    IM_LOG(kError, "postgresql: a batch answered 500 while in doubt had committed (the database went down "
                   "between its COMMIT and the reply); its clients were told it failed");
  }
}

// --- Reads.

// A stalled database must not grow the pipeline (and libpq's output buffer) without
// bound: past kMaxInFlight Ops a read answers 500 at once, as if not connected.
bool PgStore::CanRead() const { return state_ == State::kReady && ops_.size() < kMaxInFlight; }

void PgStore::Answer(Op& op, const StoreStatus& status) {
  void* target = op.target;
  if (target == nullptr) return;
  op.target = nullptr;
  PGresult* r = status.ok() ? op.data : nullptr;
  auto text = [&](int row, int col) {
    return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
  };
  switch (op.kind) {
    case OpKind::kBuddies: {
      auto* q = static_cast<BuddyQuery*>(target);
      q->rows.clear();
      q->exists = false;
      q->user_protected = false;
      q->status = status;
      if (r != nullptr && PQntuples(r) > 0) {
        q->exists = true;
        q->user_protected = text(0, 6) == "t";
        for (int i = 0; i < PQntuples(r); ++i) {
          if (PQgetisnull(r, i, 0)) continue;  // a user without buddies
          BuddyRow& row = q->rows.emplace_back();
          row.id = text(i, 0);
          row.is_protected = text(i, 1) == "t";
          row.has_presence = !PQgetisnull(r, i, 2);
          if (row.has_presence) {
            row.presence.online = text(i, 2) == "t";
            row.presence.ip = text(i, 3);
            row.presence.port = static_cast<uint16_t>(std::atoi(PQgetvalue(r, i, 4)));
            row.presence.updated_ms = std::atoll(PQgetvalue(r, i, 5));
            row.presence.chat_key = text(i, 7);
          }
        }
      } else if (status.ok() && r == nullptr) {
        q->status = StoreStatus::Error("postgresql: no result");
      }
      return q->OnBuddiesRead();
    }
    case OpKind::kAccount: {
      auto* q = static_cast<AccountQuery*>(target);
      q->status = status;
      q->exists = r != nullptr && PQntuples(r) == 1;
      q->password_hash = q->exists && !PQgetisnull(r, 0, 0) ? text(0, 0) : "";
      if (status.ok() && r == nullptr) q->status = StoreStatus::Error("postgresql: no result");
      return q->OnAccountRead();
    }
    case OpKind::kSession: {
      auto* q = static_cast<SessionQuery*>(target);
      q->status = status;
      q->exists = r != nullptr && PQntuples(r) == 1;
      if (q->exists) {
        q->user = text(0, 0);
        q->expires_ms = std::atoll(PQgetvalue(r, 0, 1));
        q->account_counter = std::strtoull(PQgetvalue(r, 0, 2), nullptr, 10);
        q->datagram_counter = std::strtoull(PQgetvalue(r, 0, 3), nullptr, 10);
      }
      if (status.ok() && r == nullptr) q->status = StoreStatus::Error("postgresql: no result");
      return q->OnSessionRead();
    }
    case OpKind::kSecret: {
      auto* q = static_cast<SecretQuery*>(target);
      q->status = status;
      q->secret.clear();
      if (r != nullptr && PQntuples(r) == 1) q->secret = text(0, 0);  // a binary result: raw bytes
      if (status.ok() && q->secret.empty()) q->status = StoreStatus::Error("postgresql: no shared secret stored");
      return q->OnSecretRead();
    }
    default: return;
  }
}

void PgStore::ReadBuddies(BuddyQuery* query) {
  if (!CanRead()) {
    Op op{OpKind::kBuddies, query};
    return Answer(op, NotReady());
  }
  Push(OpKind::kBuddies, query, uv_now(loop_) + kReadMs, 0);
  // One row per buddy in byte order, or one row of NULLs for a user without buddies; no
  // row: no such user. The last column is the user's own protection.
  Send("SELECT b.buddy, b.buddy_protected, p.online, p.ip, p.port, p.updated_ms, u.pw_hash IS NOT NULL, p.chat_key "
       "FROM users u LEFT JOIN buddies b ON b.owner = u.id LEFT JOIN presence p ON p.uid = b.buddy "
       "WHERE u.id = $1 ORDER BY b.buddy",
       {query->user}) &&
      Sync() && (Flush(), true);
}

void PgStore::ReadAccount(AccountQuery* query) {
  if (!CanRead()) {
    Op op{OpKind::kAccount, query};
    return Answer(op, NotReady());
  }
  Push(OpKind::kAccount, query, uv_now(loop_) + kReadMs, 0);
  Send("SELECT pw_hash FROM users WHERE id = $1", {query->user}) && Sync() && (Flush(), true);
}

void PgStore::ReadSession(SessionQuery* query) {
  if (!CanRead()) {
    Op op{OpKind::kSession, query};
    return Answer(op, NotReady());
  }
  Push(OpKind::kSession, query, uv_now(loop_) + kReadMs, 0);
  Send("SELECT owner, expires_ms, account_counter, datagram_counter FROM sessions WHERE sid = $1", {query->session}) &&
      Sync() && (Flush(), true);
}

// Start-up: the first server stores its candidate, every server reads the stored one.
// Raw random bytes: a bytea parameter and result in binary form (they may hold NULs).
void PgStore::ReadSecret(SecretQuery* query) {
  if (!CanRead()) {
    Op op{OpKind::kSecret, query};
    return Answer(op, NotReady());
  }
  Push(OpKind::kSecret, query, uv_now(loop_) + kSecretMs, 1);
  Send("INSERT INTO secrets(name, value) VALUES ('shared', $1) ON CONFLICT DO NOTHING", {query->candidate}, false,
       {true}) &&
      Send("SELECT value FROM secrets WHERE name = 'shared'", {}, /*binary_result=*/true) && Sync() &&
      (Flush(), true);
}

}  // namespace im::server
