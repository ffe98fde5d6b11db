#include "server/server.h"

#include <algorithm>
#include <vector>

#include <systemd/sd-daemon.h>

#include "server/log.h"
#include "server/session.h"

namespace im::server {
namespace {

constexpr int kListenBacklog = 511;
constexpr uint64_t kShutdownBudgetMs = 800;   // SIGTERM to exit stays under 1 s
constexpr uint64_t kStatsIntervalMs = 60000;

template <typename T>
uv_handle_t* AsHandle(T* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

int ResolveBind(const std::string& host, int port, sockaddr_storage* addr) {
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(addr)) == 0) return 0;
  return uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(addr));
}

}  // namespace

Server::Server(uv_loop_t* loop, const ServerOptions& options, Store& store)
    : loop_(loop),
      options_(options),
      store_(store),
      commit_(loop, store, *this, options.busy_timeout_ms),
      udp_(loop, store, commit_, options.presence_ttl_ms) {
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  uv_timer_init(loop_, &sweep_);
  sweep_.data = this;
  uv_timer_init(loop_, &drain_);
  drain_.data = this;
  uv_signal_init(loop_, &sigterm_);
  sigterm_.data = this;
  uv_signal_init(loop_, &sigint_);
  sigint_.data = this;
}

bool Server::Start(std::string* error) {
  sockaddr_storage addr{};
  if (ResolveBind(options_.host, options_.tcp_port, &addr) != 0) {
    *error = "--host " + options_.host + ": not a numeric IPv4 or IPv6 address";
    return false;
  }
  auto where = [&](int port) { return options_.host + ":" + std::to_string(port); };
  // EADDRINUSE may only surface at listen time (libuv defers bind errors).
  int rc = options_.inherited_tcp_fd >= 0 ? uv_tcp_open(&listener_, options_.inherited_tcp_fd)
                                           : uv_tcp_bind(&listener_, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), kListenBacklog, OnConnection);
  if (rc != 0) {
    *error = "listen tcp " + where(options_.tcp_port) + ": " + uv_strerror(rc);
    return false;
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  int tcp_port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  ResolveBind(options_.host, options_.udp_port, &addr);
  rc = udp_.Start(reinterpret_cast<sockaddr*>(&addr), options_.inherited_udp_fd);
  if (rc != 0) {
    *error = "bind udp " + where(options_.udp_port) + ": " + uv_strerror(rc);
    return false;
  }
  commit_.Start();
  uint64_t sweep_ms = std::clamp<uint64_t>(options_.idle_timeout_ms / 4, 10, 1000);
  uv_timer_start(&sweep_, OnSweep, sweep_ms, sweep_ms);
  uv_signal_start(&sigterm_, OnSignal, SIGTERM);
  uv_signal_start(&sigint_, OnSignal, SIGINT);
  last_stats_ms_ = uv_now(loop_);
  // Tests and scripts read the chosen ports from these two lines.
  LogWrite(LogLevel::kInfo, "listening tcp %s", where(tcp_port).c_str());
  LogWrite(LogLevel::kInfo, "listening udp %s", where(udp_.LocalPort()).c_str());
  sd_notifyf(0, "READY=1\nSTATUS=serving tcp port %d, udp port %d", tcp_port, udp_.LocalPort());
  return true;
}

void Server::OnConnection(uv_stream_t* listener, int status) noexcept {
  auto* self = static_cast<Server*>(listener->data);
  if (status < 0) {
    // EMFILE/ENFILE: libuv has already shed the connection with its reserve fd, so the
    // loop does not spin; say so once in a while.
    if (self->accept_errors_++ % 1000 == 0) {
      IM_LOG(kWarn, "tcp accept: %s (%llu so far)", uv_strerror(status),
             static_cast<unsigned long long>(self->accept_errors_));
    }
    return;
  }
  if (self->shutting_down_) return;
  if (self->sessions_.size() >= static_cast<size_t>(self->options_.max_conns)) {
    // Leave the connection pending: libuv stops watching the listener until uv_accept.
    if (!self->accept_paused_ && self->paused_++ % 100 == 0) {
      IM_LOG(kWarn, "--max-conns %d reached; accepting paused", self->options_.max_conns);
    }
    self->accept_paused_ = true;
    return;
  }
  self->AcceptOne();
}

void Server::AcceptOne() {
  uint64_t id = next_session_id_++;
  Session* session = Session::Accept(*this, reinterpret_cast<uv_stream_t*>(&listener_), id);
  if (session == nullptr) return;
  sessions_.emplace(id, session);
  ++accepted_;
}

void Server::SubmitRequest(uint64_t session_id, proto::Request request) {
  commit_.AddRequest(session_id, std::move(request));
}

void Server::OnCommitted(uint64_t session_id, proto::Reply reply) {
  auto it = sessions_.find(session_id);
  if (it == sessions_.end()) return;  // the client left; the change stands anyway
  it->second->SendReply(reply);
}

void Server::OnSessionClosed(Session* session) {
  sessions_.erase(session->id());
  if (accept_paused_ && !shutting_down_ && !closed_) {
    accept_paused_ = false;
    AcceptOne();  // takes the connection libuv kept pending, and resumes watching
  }
}

void Server::OnSweep(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Server*>(timer->data);
  uint64_t now = uv_now(self->loop_);
  std::vector<Session*> idle;
  for (auto& [id, session] : self->sessions_) {
    if (session->awaiting_line() &&
        now - session->accepted_ms() >= static_cast<uint64_t>(self->options_.idle_timeout_ms)) {
      idle.push_back(session);
    }
  }
  for (Session* session : idle) session->Close();  // removed from the map in OnClose
  self->idle_closed_ += idle.size();
  if (!idle.empty()) IM_LOG(kDebug, "closed %zu idle connections", idle.size());
  if (now - self->last_stats_ms_ >= kStatsIntervalMs) {
    sd_notifyf(0, "STATUS=%zu open connections, %llu requests committed", self->sessions_.size(),
               static_cast<unsigned long long>(self->commit_.stats().requests));
    self->last_stats_ms_ = now;
    self->LogStats("stats");
  }
}

void Server::LogStats(const char* when) {
  const auto& c = commit_.stats();
  const auto& u = udp_.stats();
  IM_LOG(kInfo,
         "%s: connections %llu accepted, %zu open, %llu idle-closed; commits %llu, requests "
         "%llu, failed %llu, busy retries %llu; udp SET %llu (dropped %llu, overflow "
         "%llu), GET %llu (unknown %llu, errors %llu), malformed %llu, truncated %llu",
         when, static_cast<unsigned long long>(accepted_), sessions_.size(),
         static_cast<unsigned long long>(idle_closed_),
         static_cast<unsigned long long>(c.commits), static_cast<unsigned long long>(c.requests),
         static_cast<unsigned long long>(c.failed_requests),
         static_cast<unsigned long long>(c.busy_retries),
         static_cast<unsigned long long>(u.sets),
         static_cast<unsigned long long>(c.presence_dropped),
         static_cast<unsigned long long>(c.presence_overflow),
         static_cast<unsigned long long>(u.gets),
         static_cast<unsigned long long>(u.unknown_users),
         static_cast<unsigned long long>(u.store_errors),
         static_cast<unsigned long long>(u.malformed),
         static_cast<unsigned long long>(u.truncated));
}

void Server::OnSignal(uv_signal_t* signal, int signum) noexcept {
  auto* self = static_cast<Server*>(signal->data);
  if (self->shutting_down_) {
    IM_LOG(kWarn, "second signal %d: stopping now", signum);
    self->Close();
    return;
  }
  IM_LOG(kInfo, "signal %d: shutting down", signum);
  sd_notify(0, "STOPPING=1");
  self->BeginShutdown();
}

// Stop taking work, finish what is in flight (commit, reply), then close everything.
void Server::BeginShutdown() {
  shutting_down_ = true;
  uv_close(AsHandle(&listener_), nullptr);
  udp_.Close();
  uv_timer_stop(&sweep_);
  // Connections that have not sent their line yet have nothing in flight.
  std::vector<Session*> waiting;
  for (auto& [id, session] : sessions_) {
    if (session->awaiting_line()) waiting.push_back(session);
  }
  for (Session* session : waiting) session->Close();
  shutdown_deadline_ms_ = uv_now(loop_) + kShutdownBudgetMs;
  commit_.FlushBefore(shutdown_deadline_ms_);
  uv_timer_start(&drain_, OnDrain, 0, 5);
}

void Server::OnDrain(uv_timer_t* timer) noexcept {
  auto* self = static_cast<Server*>(timer->data);
  bool done = self->commit_.idle() && self->sessions_.empty();
  if (done || uv_now(self->loop_) >= self->shutdown_deadline_ms_ + 100) self->Close();
}

void Server::Close() {
  if (closed_) return;
  closed_ = true;
  if (shutting_down_) LogStats("exit");
  if (!uv_is_closing(AsHandle(&listener_))) uv_close(AsHandle(&listener_), nullptr);
  udp_.Close();
  commit_.Close();
  for (uv_handle_t* h : {AsHandle(&sweep_), AsHandle(&drain_), AsHandle(&sigterm_), AsHandle(&sigint_)}) {
    uv_close(h, nullptr);  // members of an object that outlives uv_run
  }
  std::vector<Session*> open;
  for (auto& [id, session] : sessions_) open.push_back(session);
  for (Session* session : open) session->Close();
}

}  // namespace im::server
