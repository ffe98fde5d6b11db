#include "tools/loadgen/proven_accounts.h"

#include "tools/loadgen/scenario.h"

namespace im::loadgen {

std::vector<proto::Request> ProvenAccounts::Registrations(std::vector<std::string> users) {
  users_ = std::move(users);
  std::vector<proto::Request> seed;
  for (const std::string& user : users_) {
    proto::Request r;
    r.verb = proto::Verb::kReg;
    r.user = user;
    r.password = kLoginPassword;
    seed.push_back(std::move(r));
  }
  return seed;
}

void ProvenAccounts::OnRegistered(size_t index, const std::string& reply) {
  if (index >= users_.size()) return;
  std::optional<proto::SessionGrant> grant = proto::ParseGrant(reply);
  if (!grant) return;
  std::optional<client::Session> session = client::Session::FromGrant(*grant, client::WallClockMs());
  if (session) sessions_.insert_or_assign(users_[index], std::move(*session));
}

proto::Request ProvenAccounts::ProvenAdd(const std::string& user, const std::string& buddy) {
  proto::Request r;
  r.verb = proto::Verb::kAdd;
  r.user = user;
  r.buddy = buddy;
  if (auto it = sessions_.find(user); it != sessions_.end()) it->second.Prove(&r, client::WallClockMs());
  return r;
}

std::string ProvenAccounts::Prove(const std::string& user, const std::string& datagram) {
  auto it = sessions_.find(user);
  if (it == sessions_.end()) return datagram;
  return it->second.ProveDatagram(datagram, client::WallClockMs());
}

}  // namespace im::loadgen
