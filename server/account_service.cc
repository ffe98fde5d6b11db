#include "server/account_service.h"

#include <cstring>
#include <memory>

#include "auth/keys.h"
#include "net/address.h"
#include "net/log.h"
#include "proto/text.h"
#include "server/wall_clock.h"

namespace im::server {
namespace {

// Log-in failures: 5 a minute per account (a guesser gets 7200 tries a day at most), 30 a
// minute per source address. Registrations with a password cost a hash each: 5 a second
// per address, 20 at once.
constexpr double kFailuresPerUserPerSecond = 5.0 / 60, kFailuresPerUserBurst = 5;
constexpr double kFailuresPerIpPerSecond = 30.0 / 60, kFailuresPerIpBurst = 30;
constexpr double kRegistrationsPerIpPerSecond = 5, kRegistrationsPerIpBurst = 20;

constexpr size_t kSessionIdBytes = 16;  // 22 characters of base64url

}  // namespace

// A REG with a password, waiting for the account's row.
class AccountService::AccountRead final : public AccountQuery {
 public:
  AccountRead(AccountService& service, uint64_t session_id, proto::Request request, std::string ip)
      : service_(service), session_id(session_id), request(std::move(request)), ip(std::move(ip)) {
    user = this->request.user;
  }
  void OnAccountRead() override { service_.OnAccountRead(*this); }
  AccountService& service_;
  uint64_t session_id;
  proto::Request request;
  std::string ip;
};

// A proven ADD/DEL, waiting for its session's row.
class AccountService::SessionRead final : public SessionQuery {
 public:
  SessionRead(AccountService& service, uint64_t session_id, proto::Request request)
      : service_(service), session_id(session_id), request(std::move(request)) {
    session = this->request.proof.session;
  }
  void OnSessionRead() override { service_.OnSessionRead(*this); }
  AccountService& service_;
  uint64_t session_id;
  proto::Request request;
};

AccountService::AccountService(uv_loop_t* loop, Store& store, const Proofs& proofs, const AccountOptions& options,
                               Sink& sink, int64_t (*wall_clock_ms)())
    : loop_(loop),
      store_(store),
      proofs_(proofs),
      options_(options),
      sink_(sink),
      wall_clock_ms_(wall_clock_ms != nullptr ? wall_clock_ms : WallClockMs),
      pool_(loop, options.password_cost),
      failures_per_user_(kFailuresPerUserPerSecond, kFailuresPerUserBurst),
      failures_per_ip_(kFailuresPerIpPerSecond, kFailuresPerIpBurst),
      registrations_per_ip_(kRegistrationsPerIpPerSecond, kRegistrationsPerIpBurst) {}

void AccountService::Submit(uint64_t session_id, proto::Request request, const sockaddr* from) {
  if (request.verb == proto::Verb::kReg) {
    if (request.password.empty()) {
      if (options_.auth_required) return Answer(session_id, proto::Reply::kPasswordRequired);
      return Commit(session_id, std::move(request));
    }
    if (!proofs_.ready()) return Answer(session_id, proto::Reply::kServerError);
    std::string ip = from != nullptr ? net::FormatIp(from) : std::string();
    ++reads_in_flight_;
    store_.ReadAccount(new AccountRead(*this, session_id, std::move(request), std::move(ip)));
    return;
  }
  if ((request.verb == proto::Verb::kAdd || request.verb == proto::Verb::kDel) && !request.proof.empty()) {
    ++reads_in_flight_;
    store_.ReadSession(new SessionRead(*this, session_id, std::move(request)));
    return;
  }
  Commit(session_id, std::move(request));  // the store answers 401 if the account is protected
}

void AccountService::OnAccountRead(AccountRead& read) {
  std::unique_ptr<AccountRead> owned(&read);
  --reads_in_flight_;
  uint64_t id = read.session_id;
  if (!read.status.ok()) {
    IM_LOG(kWarn, "REG %s: %s", proto::Printable(read.user).c_str(), read.status.message().c_str());
    return Answer(id, proto::Reply::kServerError);
  }
  if (read.exists && read.password_hash.empty()) return Answer(id, proto::Reply::kNotProtected);
  uint64_t now = uv_now(loop_);
  if (!read.exists) {
    if (!registrations_per_ip_.Take(read.ip, now)) {
      ++stats_.throttled;
      return Answer(id, proto::Reply::kTryLater);
    }
    std::string user = read.user;
    bool queued = pool_.Hash(std::move(read.request.password), [this, id, user](bool ok, std::string hash) {
      if (!ok) return Answer(id, proto::Reply::kServerError);
      StoreRequest request(proto::Request{proto::Verb::kReg, user});
      request.password_hash = std::move(hash);
      StartSession(&request);
      Commit(id, std::move(request));
    });
    if (!queued) {
      ++stats_.pool_full;
      Answer(id, proto::Reply::kTryLater);
    }
    return;
  }
  // A log-in: refused unhashed while the account or the address has no failures left.
  if (!failures_per_user_.Has(read.user, now) || !failures_per_ip_.Has(read.ip, now)) {
    ++stats_.throttled;
    return Answer(id, proto::Reply::kTryLater);
  }
  std::string user = read.user, ip = read.ip, hash = read.password_hash;
  bool queued = pool_.Verify(hash, std::move(read.request.password), [this, id, user, ip, hash](bool ok, std::string) {
    if (!ok) {
      ++stats_.failed_logins;
      uint64_t now = uv_now(loop_);
      failures_per_user_.Take(user, now);
      failures_per_ip_.Take(ip, now);
      IM_LOG(kNotice, "REG %s from %s: wrong password", proto::Printable(user).c_str(), ip.c_str());
      return Answer(id, proto::Reply::kWrongPassword);
    }
    ++stats_.logins;
    StoreRequest request(proto::Request{proto::Verb::kReg, user});
    request.password_hash = hash;  // the store checks it is still the account's
    request.login = true;
    StartSession(&request);
    Commit(id, std::move(request));
  });
  if (!queued) {
    ++stats_.pool_full;
    Answer(id, proto::Reply::kTryLater);
  }
}

void AccountService::OnSessionRead(SessionRead& read) {
  std::unique_ptr<SessionRead> owned(&read);
  --reads_in_flight_;
  if (!read.status.ok()) {
    IM_LOG(kWarn, "%s %s: %s", std::string(proto::VerbName(read.request.verb)).c_str(),
           proto::Printable(read.request.user).c_str(), read.status.message().c_str());
    return Answer(read.session_id, proto::Reply::kServerError);
  }
  ProofCheck check = read.exists ? proofs_.Check(read.request.proof, proto::SignedText(read.request), read.request.user,
                                                 read.user, read.expires_ms, wall_clock_ms_())
                                 : ProofCheck::kNoSession;
  if (check != ProofCheck::kOk) {
    ++stats_.bad_proofs;
    IM_LOG(kInfo, "%s %s: proof refused (%s)", std::string(proto::VerbName(read.request.verb)).c_str(),
           proto::Printable(read.request.user).c_str(), ProofCheckName(check));
    return Answer(read.session_id, check == ProofCheck::kNoSecret ? proto::Reply::kServerError
                                                                  : proto::Reply::kUnauthorized);
  }
  StoreRequest request(std::move(read.request));
  request.proof_session = request.request.proof.session;
  request.proof_counter = request.request.proof.counter;
  Commit(read.session_id, std::move(request));
}

void AccountService::StartSession(StoreRequest* request) {
  request->new_session = auth::EncodeBase64Url(auth::RandomBytes(kSessionIdBytes));
  request->session_expires_ms = wall_clock_ms_() + options_.session_ttl_ms;
}

void AccountService::Commit(uint64_t session_id, StoreRequest request) {
  if (!request.new_session.empty()) {
    const std::string& user = request.request.user;
    grants_[session_id] = proto::SessionGrant{
        request.new_session,
        auth::EncodeBase64Url(proofs_.KeyFor(request.new_session, user, request.session_expires_ms)),
        request.session_expires_ms, 0};
  }
  commit_->AddRequest(session_id, std::move(request));
}

void AccountService::OnCommitted(uint64_t session_id, proto::Reply reply) {
  auto it = grants_.find(session_id);
  if (it == grants_.end()) return Answer(session_id, reply);
  proto::SessionGrant grant = std::move(it->second);
  grants_.erase(it);
  // Only a created account or a log-in made the session; any other reply drops it.
  if (reply != proto::Reply::kOk && reply != proto::Reply::kLoggedIn) return Answer(session_id, reply);
  grant.server_now_ms = wall_clock_ms_();
  std::string line = proto::FormatGrantReply(reply, grant);
  sink_.OnAnswer(session_id, reply, line);
}

}  // namespace im::server
