#include "server/presence_service.h"

#include <algorithm>
#include <cstring>

#include "net/address.h"
#include "net/log.h"
#include "server/group_commit.h"
#include "server/wall_clock.h"

namespace im::server {

// One GET on its way through the store: how to answer, and the store's rows.
class PresenceService::Read final : public BuddyQuery, public PresenceQuery {
 public:
  explicit Read(PresenceService& service) : service_(service) { presence_rows = &rows; }
  void OnBuddiesRead() override { service_.OnBuddies(*this); }
  void OnPresenceRead() override { service_.Answer(*this); }
  Context context;

 private:
  PresenceService& service_;
};

// A proven datagram whose session is not cached yet.
class PresenceService::SessionLoad final : public SessionQuery {
 public:
  SessionLoad(PresenceService& service, Datagram datagram, const Context& context)
      : datagram(std::move(datagram)), context(context), service_(service) {}
  void OnSessionRead() override { service_.OnSessionLoaded(*this); }
  Datagram datagram;
  Context context;

 private:
  PresenceService& service_;
};

namespace {
const proto::DatagramCredentials& CredentialsOf(const std::variant<proto::SetPresence, proto::GetBuddies>& d) {
  if (auto* set = std::get_if<proto::SetPresence>(&d)) return set->credentials;
  return std::get<proto::GetBuddies>(d).credentials;
}
const std::string& UserOf(const std::variant<proto::SetPresence, proto::GetBuddies>& d) {
  if (auto* set = std::get_if<proto::SetPresence>(&d)) return set->user;
  return std::get<proto::GetBuddies>(d).user;
}
}  // namespace

PresenceService::PresenceService(Store& store, GroupCommit& commit, ReplySender& sender, const Proofs& proofs,
                                 int64_t presence_ttl_ms, int64_t (*wall_clock_ms)())
    : store_(store),
      commit_(commit),
      sender_(sender),
      proofs_(proofs),
      presence_ttl_ms_(presence_ttl_ms),
      wall_clock_ms_(wall_clock_ms != nullptr ? wall_clock_ms : WallClockMs),
      unvalidated_(kUnvalidatedPerSecond, kUnvalidatedBurst) {}

PresenceService::~PresenceService() = default;

void PresenceService::SetSecret(std::string_view secret) { cookies_.emplace(secret); }

void PresenceService::OnDatagram(std::string_view bytes, const sockaddr* from) {
  auto parsed = proto::ParseDatagram(bytes);
  Context context;
  std::memcpy(&context.from, from, net::AddressLength(from));
  context.size = bytes.size();
  if (auto* error = std::get_if<proto::DatagramError>(&parsed)) {
    ++stats_.malformed;
    if (auto reply = proto::ErrorReplyFor(bytes, *error)) SendBounded(proto::ReplyLine(*reply), context);
    return;
  }
  if (std::holds_alternative<proto::CookieRequest>(parsed)) {
    if (!cookies_) return;
    ++stats_.cookies_sent;
    return SendBounded(proto::FormatCookieReply(cookies_->Issue(from, wall_clock_ms_())), context);
  }
  Datagram datagram = std::holds_alternative<proto::SetPresence>(parsed)
                          ? Datagram(std::move(std::get<proto::SetPresence>(parsed)))
                          : Datagram(std::move(std::get<proto::GetBuddies>(parsed)));
  const proto::DatagramCredentials& credentials = CredentialsOf(datagram);
  int64_t now = wall_clock_ms_();
  context.validated = cookies_ && !credentials.cookie.empty() && cookies_->Valid(from, credentials.cookie, now);
  if (credentials.proof.empty()) return Dispatch(datagram, context);
  if (!context.validated) {
    // A proof is only good from the address it was made at: show that one first.
    if (!cookies_) return;
    ++stats_.cookies_sent;
    return SendBounded(proto::FormatCookieReply(cookies_->Issue(from, now)), context);
  }
  auto cached = sessions_.find(credentials.proof.session);
  if (cached != sessions_.end()) return CheckProof(datagram, context, cached->second);
  if (reads_in_flight_ >= kMaxReadsInFlight) {
    ++stats_.gets_shed;
    return;
  }
  auto* load = new SessionLoad(*this, std::move(datagram), context);
  load->session = CredentialsOf(load->datagram).proof.session;
  ++reads_in_flight_;
  store_.ReadSession(load);  // comes back through OnSessionLoaded, now or later
}

void PresenceService::OnSessionLoaded(SessionLoad& load) {
  std::unique_ptr<SessionLoad> owned(&load);
  --reads_in_flight_;
  if (!load.status.ok()) {
    ++stats_.store_errors;
    return;  // the client sends again at its next interval
  }
  if (!load.exists) {
    ++stats_.bad_proofs;
    return;
  }
  auto it = sessions_.find(load.session);
  if (it == sessions_.end()) {
    if (sessions_.size() >= kMaxCachedSessions) sessions_.clear();
    it = sessions_.emplace(load.session, CachedSession{load.user, load.expires_ms, auth::ReplayWindow(load.datagram_counter)})
             .first;
  }
  CheckProof(load.datagram, load.context, it->second);
}

void PresenceService::CheckProof(Datagram& datagram, Context context, CachedSession& cached) {
  const proto::DatagramCredentials& credentials = CredentialsOf(datagram);
  const proto::Proof& proof = credentials.proof;
  if (!cached.mac_key.valid()) cached.mac_key = proofs_.MacKeyFor(proof.session, cached.user, cached.expires_ms);
  ProofCheck check = proofs_.CheckWith(cached.mac_key, proof, credentials.signed_text, UserOf(datagram), cached.user,
                                       cached.expires_ms, wall_clock_ms_());
  if (check != ProofCheck::kOk) {
    ++stats_.bad_proofs;
    return;
  }
  // Counted only once the MAC passed: a forged datagram cannot move the window.
  auth::ReplayWindow& window = cached.window;
  if (!window.Fresh(proof.counter)) {
    ++stats_.replays;
    return;
  }
  window.Accept(proof.counter);
  commit_.RaiseSessionCounter(proof.session, proof.counter);
  ++stats_.proven;
  context.proven = true;
  Dispatch(datagram, context);
}

void PresenceService::Dispatch(Datagram& datagram, const Context& context) {
  if (auto* set = std::get_if<proto::SetPresence>(&datagram)) {
    ++stats_.sets;
    const auto* from = reinterpret_cast<const sockaddr*>(&context.from);
    const proto::Proof& proof = set->credentials.proof;
    commit_.AddPresence(set->user, set->online, net::FormatIp(from), set->msg_port, wall_clock_ms_(), context.proven,
                        set->chat_key, context.proven ? std::string_view(proof.session) : std::string_view(),
                        context.proven ? proof.counter : 0);
    return;
  }
  StartGet(std::get<proto::GetBuddies>(datagram), context);
}

void PresenceService::StartGet(const proto::GetBuddies& get, const Context& context) {
  if (reads_in_flight_ >= kMaxReadsInFlight) {
    ++stats_.gets_shed;
    return;
  }
  std::unique_ptr<Read> read;
  if (free_reads_.empty()) {
    read = std::make_unique<Read>(*this);
  } else {
    read = std::move(free_reads_.back());
    free_reads_.pop_back();
  }
  read->user.assign(get.user);
  read->context = context;
  read->context.with_keys = get.with_keys;
  ++reads_in_flight_;
  store_.ReadBuddies(read.release());  // comes back through Answer, now or later
}

void PresenceService::OnBuddies(Read& read) {
  read.presence_status = StoreStatus::Ok();
  bool answerable = read.status.ok() && read.exists && !(read.user_protected && !read.context.proven);
  if (presence_store_ == nullptr || !answerable || read.rows.empty()) return Answer(read);
  presence_store_->Read(&read);  // comes back through Answer, now or later
}

void PresenceService::Answer(Read& read) {
  std::unique_ptr<Read> owned(&read);
  --reads_in_flight_;
  const Context& context = read.context;
  if (!read.status.ok() || !read.presence_status.ok()) {
    ++stats_.store_errors;
    // The presence engine logs its own changes of state, not each GET they fail.
    if (!read.status.ok()) IM_LOG(kWarn, "udp GET %s: %s", read.user.c_str(), read.status.message().c_str());
    SendBounded(proto::ReplyLine(proto::Reply::kServerError), context);
  } else if (!read.exists) {
    ++stats_.unknown_users;
    SendBounded(proto::ReplyLine(proto::Reply::kNoSuchUser), context);
  } else if (read.user_protected && !context.proven) {
    ++stats_.unauthorized;
    SendBounded(proto::ReplyLine(proto::Reply::kUnauthorized), context);
  } else {
    ++stats_.gets;
    int64_t online_since = wall_clock_ms_() - presence_ttl_ms_;
    reply_.clear();
    for (const BuddyRow& row : read.rows) {
      // A protected buddy's address is for proven askers only.
      if (row.is_protected && !context.proven) {
        proto::AppendBuddyLine(&reply_, row.id, false, "", 0);
        continue;
      }
      // A SET still waiting in memory is newer than anything stored; an unproven one
      // never speaks for a protected buddy (the store will drop it).
      const Presence* p = commit_.FindPending(row.id);
      if (p != nullptr && row.is_protected && !p->proven) p = nullptr;
      if (p == nullptr && row.has_presence) p = &row.presence;
      bool online = p != nullptr && p->online && p->updated_ms > online_since;
      proto::AppendBuddyLine(&reply_, row.id, online, online ? std::string_view(p->ip) : "", online ? p->port : 0,
                             online && context.with_keys ? std::string_view(p->chat_key) : "");
    }
    SendBounded(reply_, context);
  }
  free_reads_.push_back(std::move(owned));
}

void PresenceService::SendBounded(std::string_view bytes, const Context& context) {
  const auto* to = reinterpret_cast<const sockaddr*>(&context.from);
  if (context.validated || context.proven) return sender_.SendReply(bytes, to);
  // QUIC's anti-amplification rule (RFC 9000 section 8), with a floor for a bare GET.
  int64_t now = wall_clock_ms_();
  if (!unvalidated_.Take(net::FormatIp(to), static_cast<uint64_t>(now))) {
    ++stats_.rate_limited;
    return;
  }
  size_t budget = std::max<size_t>(3 * context.size, 256);
  if (bytes.size() <= budget) return sender_.SendReply(bytes, to);
  if (!cookies_) return;  // cannot prove anything yet: nothing is sent
  ++stats_.cookies_sent;
  sender_.SendReply(proto::FormatCookieReply(cookies_->Issue(to, now)), to);
}

}  // namespace im::server
