// The accounts of a proven scenario: registered with a password while seeding, and the
// session each registration was granted, which signs that user's ADDs and datagrams the
// way a logged-in im-client does (client::Session). No I/O.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/session.h"
#include "proto/request.h"

namespace im::loadgen {

class ProvenAccounts {
 public:
  // REG <user> <password> for each user, in order; OnRegistered(i, ...) answers the i-th.
  std::vector<proto::Request> Registrations(std::vector<std::string> users);
  // Keeps the grant of registration `index` (a new account's 200 or a log-in's 210).
  void OnRegistered(size_t index, const std::string& reply);
  // ADD <user> <buddy>, proven with the user's session; an unproven one if it has none
  // (the server refuses it, which seeding reports).
  proto::Request ProvenAdd(const std::string& user, const std::string& buddy);
  // The datagram with the user's proof, or as it is if the user has no session.
  std::string Prove(const std::string& user, const std::string& datagram);
  size_t sessions() const { return sessions_.size(); }

 private:
  std::vector<std::string> users_;  // of the registrations, by index
  std::unordered_map<std::string, client::Session> sessions_;
};

}  // namespace im::loadgen
