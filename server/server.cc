#include "server/server.h"

#include <systemd/sd-daemon.h>

#include <algorithm>

#include "net/address.h"
#include "net/log.h"
#include "net/tcp_stream.h"
#include "net/tls_stream.h"
#include "auth/keys.h"

namespace im::server {
namespace {

constexpr uint64_t kShutdownBudgetMs = 900;   // SIGTERM to exit stays under 1 s
constexpr uint64_t kStatsIntervalMs = 60000;
constexpr uint64_t kSecretRetryMs = 5000;     // a store busy for longer than this is an error
constexpr uint64_t kSecretRetryStepMs = 50;

}  // namespace

// Start-up: the shared secret every server on the store derives its keys from.
class Server::SecretLoad final : public SecretQuery {
 public:
  explicit SecretLoad(Server& server) : server_(server) { candidate = auth::RandomBytes(32); }
  void OnSecretRead() override { server_.OnSecretLoaded(*this); }

 private:
  Server& server_;
};

Server::Server(uv_loop_t* loop, const ServerOptions& options, Store& store, PresenceStore* presence)
    : loop_(loop),
      options_(options),
      store_(store),
      presence_store_(presence),
      accounts_(loop, store, proofs_, options.accounts, *this),
      commit_(loop, store, accounts_, options.busy_timeout_ms),
      udp_(loop),
      presence_(store, commit_, udp_, proofs_, options.presence_ttl_ms),
      listener_(loop, *this),
      sessions_(static_cast<size_t>(options.max_conns_per_ip)),
      sweep_(loop, this, [](void* self) { static_cast<Server*>(self)->OnSweep(); }),
      stop_(loop, *this, kShutdownBudgetMs, 5),
      secret_retry_(loop, this, [](void* self) {
        auto* server = static_cast<Server*>(self);
        server->store_.ReadSecret(server->secret_load_.get());
      }) {
  accounts_.SetCommit(&commit_);
  commit_.SetPresenceStore(presence);
  presence_.SetPresenceStore(presence);
}

Server::~Server() = default;

void Server::OnSecretLoaded(const SecretQuery& query) {
  if (query.status.code() == StoreStatus::Code::kBusy && !closed_ &&
      uv_now(loop_) - secret_first_try_ms_ < kSecretRetryMs) {
    IM_LOG(kDebug, "store: shared secret busy (%s); trying again", query.status.message().c_str());
    return secret_retry_.Start(kSecretRetryStepMs);
  }
  if (!query.status.ok() || query.secret.size() < 32) {
    // Accounts without passwords still work; REG with one and proofs answer 500.
    IM_LOG(kError, "store: cannot load the shared secret (%s): passwords and proofs are refused",
           query.status.ok() ? "too short" : query.status.message().c_str());
  } else {
    proofs_.SetSecret(query.secret);
    presence_.SetSecret(query.secret);
    IM_LOG(kInfo, "store: shared secret loaded");
    if (tls_ && options_.tls_resumption) net::SetTicketSecret(tls_.get(), query.secret);
  }
  AnnounceReady();
}

// Said once the shared secret is settled (loaded, or given up on), not when the sockets
// are bound: a server that is still retrying a busy store would answer a password REG
// with 500 and issue no TLS tickets, so scripts, tests and systemd wait until here.
void Server::AnnounceReady() {
  if (announced_ || closed_) return;
  announced_ = true;
  // Tests and scripts read the chosen ports from these two lines.
  auto where = [&](int port) {
    sockaddr_storage shown = bound_;
    net::SetPort(&shown, port);
    return net::FormatAddress(shown);
  };
  net::LogWrite(net::LogLevel::kNotice, "listening tcp %s", where(listener_.LocalPort()).c_str());
  net::LogWrite(net::LogLevel::kNotice, "listening udp %s", where(udp_.LocalPort()).c_str());
  sd_notifyf(0, "READY=1\nSTATUS=serving tcp port %d, udp port %d", listener_.LocalPort(), udp_.LocalPort());
}

bool Server::Start(std::string* error) {
  for (const std::string& ip : options_.trusted) {
    sockaddr_storage trusted;
    if (net::ParseIp(ip, 0, &trusted)) sessions_.Trust(reinterpret_cast<sockaddr*>(&trusted));
  }
  sockaddr_storage addr{};
  if (!net::ParseIp(options_.host, options_.tcp_port, &addr)) {
    *error = "--host " + options_.host + ": not a numeric IPv4 or IPv6 address";
    return false;
  }
  if (!options_.tls_cert.empty()) {
    tls_ = net::MakeServerTlsContext(options_.tls_cert, options_.tls_key, error);
    if (!tls_) return false;
    if (!options_.tls_resumption) net::DisableResumption(tls_.get());
  }
  if (!listener_.Listen(reinterpret_cast<sockaddr*>(&addr), options_.inherited_tcp_fd, error)) return false;
  net::SetPort(&addr, options_.udp_port);
  if (int rc = udp_.Start(reinterpret_cast<sockaddr*>(&addr), options_.inherited_udp_fd, &presence_); rc != 0) {
    *error = "bind udp " + net::FormatAddress(addr) + ": " + uv_strerror(rc);
    return false;
  }
  commit_.Start();
  bound_ = addr;
  uint64_t sweep_ms = std::clamp<uint64_t>(options_.idle_timeout_ms / 4, 10, 1000);
  sweep_.Start(sweep_ms, sweep_ms);
  stop_.Start();
  last_stats_ms_ = uv_now(loop_);
  secret_load_ = std::make_unique<SecretLoad>(*this);
  secret_first_try_ms_ = uv_now(loop_);
  store_.ReadSecret(secret_load_.get());  // SQLite answers at once (then AnnounceReady); others before long
  return true;
}

void Server::OnIncoming() {
  if (stop_.stopping() || closed_) return;
  if (sessions_.size() >= static_cast<size_t>(options_.max_conns)) {
    // Full: the connection that has waited longest without sending its line makes room
    // (it is the likeliest to be an attacker's idle slot), so nobody is locked out.
    if (Session* oldest = sessions_.OldestWaiting()) {
      ++shed_;
      oldest->Close();
    }
  }
  if (sessions_.size() >= static_cast<size_t>(options_.max_conns)) {
    // Leave the connection waiting: libuv stops watching the listener until we accept.
    if (!listener_.paused() && paused_++ % 100 == 0) {
      IM_LOG(kWarn, "--max-conns %d reached; accepting paused", options_.max_conns);
    }
    listener_.Pause();
    return;
  }
  net::TcpStream* tcp = net::TcpStream::Accept(listener_.stream(), nullptr);
  if (tcp == nullptr) return;
  net::Stream* stream = tcp;
  if (tls_) {
    // A TLS exchange is several small records each way; with Nagle on, one waits behind
    // the peer's delayed ACK of the last (40 ms, every resumed handshake here).
    tcp->SetNoDelay(true);
    auto plaintext = options_.tls_only ? net::TlsStream::Plaintext::kRefuse : net::TlsStream::Plaintext::kAllow;
    stream = net::TlsStream::Accept(loop_, tcp, tls_.get(), plaintext, nullptr);
  }
  Session* session = Session::Create(stream, *this, accounts_);
  uint64_t id = sessions_.Add(session, reinterpret_cast<const sockaddr*>(&stream->peer()), uv_now(loop_));
  if (id == 0) return session->SendReply(proto::Reply::kTryLater);  // its address is at the cap
  ++accepted_;
  session->Begin(id);
}

void Server::OnSessionActive(Session* session) { sessions_.MarkActive(session->id()); }

void Server::OnSessionClosing(Session* session) {
  sessions_.Remove(session->id());
  if (!stop_.stopping() && !closed_) listener_.Resume();  // takes the connection left waiting, if any
}

void Server::OnAnswer(uint64_t session_id, proto::Reply reply, std::string_view line) {
  // Not found: the client left; the change stands anyway.
  if (Session* session = sessions_.Find(session_id)) session->SendReply(reply, line);
}

void Server::OnSweep() {
  uint64_t now = uv_now(loop_);
  auto timeout = static_cast<uint64_t>(options_.idle_timeout_ms);
  if (now >= timeout) {
    std::vector<Session*> idle = sessions_.WaitingSince(now - timeout);
    for (Session* session : idle) session->Close();
    idle_closed_ += idle.size();
    if (!idle.empty()) IM_LOG(kDebug, "closed %zu idle connections", idle.size());
  }
  if (now - last_stats_ms_ >= kStatsIntervalMs) {
    sd_notifyf(0, "STATUS=%zu open connections, %llu requests committed", sessions_.size(),
               static_cast<unsigned long long>(commit_.stats().requests));
    last_stats_ms_ = now;
    LogStats("stats");
  }
}

void Server::LogStats(const char* when) {
  const auto& c = commit_.stats();
  const auto& p = presence_.stats();
  const auto& u = udp_.stats();
  const auto& a = accounts_.stats();
  const auto& t = net::TlsStream::stats();
  auto n = [](uint64_t v) { return static_cast<unsigned long long>(v); };
  IM_LOG(kNotice,
         "%s: connections %llu accepted, %zu open, %llu idle-closed, %llu shed, %llu refused per address, "
         "accepting paused %llu times; "
         "commits %llu, requests %llu, failed %llu; log-ins %llu, wrong passwords %llu, throttled %llu, "
         "hashing queue full %llu, bad proofs %llu; udp SET %llu received, %llu queued, %llu written "
         "(dropped %llu, overflow %llu), GET %llu (unknown %llu, unauthorized %llu, errors %llu, shed %llu), "
         "proofs %llu passed, %llu refused, %llu replayed, cookies sent %llu, rate-limited %llu, malformed %llu, "
         "truncated %llu, replies dropped %llu; tls handshakes %llu (resumed %llu), failed %llu, plain %llu, "
         "plain refused %llu; log lines dropped %llu; store: %s%s%s",
         when, n(accepted_), sessions_.size(), n(idle_closed_), n(shed_), n(sessions_.refused()), n(paused_), n(c.commits),
         n(c.requests), n(c.failed_requests), n(a.logins), n(a.failed_logins), n(a.throttled), n(a.pool_full),
         n(a.bad_proofs), n(p.sets), n(c.presence_queued), n(c.presence_written), n(c.presence_dropped),
         n(c.presence_overflow), n(p.gets), n(p.unknown_users), n(p.unauthorized), n(p.store_errors), n(p.gets_shed),
         n(p.proven), n(p.bad_proofs), n(p.replays), n(p.cookies_sent), n(p.rate_limited), n(p.malformed),
         n(u.truncated), n(u.send_dropped), n(t.handshakes), n(t.resumed), n(t.failed), n(t.plaintext),
         n(t.refused_plain), n(net::LogLinesDropped()), store_.Stats().c_str(),
         presence_store_ != nullptr ? "; presence: " : "",
         presence_store_ != nullptr ? presence_store_->Stats().c_str() : "");
}

// Stop taking work, finish what is in flight (commit, reply), then close everything.
void Server::OnStopRequested(int signum) {
  IM_LOG(kNotice, "signal %d: shutting down", signum);
  sd_notify(0, "STOPPING=1");
  listener_.Close();
  udp_.Close();
  sweep_.Stop();
  // Connections that have not sent their line yet have nothing in flight.
  for (Session* session : sessions_.WaitingSince(UINT64_MAX)) session->Close();
  commit_.FlushBefore(stop_.deadline_ms() - 100);
}

bool Server::Drained() { return commit_.idle() && accounts_.idle() && sessions_.empty(); }

void Server::OnStopNow() { Close(); }

void Server::Close() {
  if (closed_) return;
  closed_ = true;
  if (stop_.stopping()) LogStats("exit");
  listener_.Close();
  udp_.Close();
  accounts_.Close();
  commit_.Close();
  store_.Close();
  if (presence_store_ != nullptr) presence_store_->Close();
  sweep_.Stop();
  secret_retry_.Stop();
  stop_.Close();
  for (Session* session : sessions_.All()) session->Close();
}

}  // namespace im::server
