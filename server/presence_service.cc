#include "server/presence_service.h"

#include <cstring>

#include "net/address.h"
#include "net/log.h"
#include "proto/presence.h"
#include "server/group_commit.h"
#include "server/wall_clock.h"

namespace im::server {
// One GET on its way through the store: where to answer, and the store's rows.
class PresenceService::Read final : public BuddyQuery {
 public:
  explicit Read(PresenceService& service) : service_(service) {}
  void OnBuddiesRead() override { service_.Answer(*this); }
  sockaddr_storage from{};

 private:
  PresenceService& service_;
};

PresenceService::PresenceService(Store& store, GroupCommit& commit, ReplySender& sender, int64_t presence_ttl_ms,
                                 int64_t (*wall_clock_ms)())
    : store_(store),
      commit_(commit),
      sender_(sender),
      presence_ttl_ms_(presence_ttl_ms),
      wall_clock_ms_(wall_clock_ms != nullptr ? wall_clock_ms : WallClockMs) {}

PresenceService::~PresenceService() = default;

void PresenceService::OnDatagram(std::string_view datagram, const sockaddr* from) {
  auto parsed = proto::ParseDatagram(datagram);
  if (auto* set = std::get_if<proto::SetPresence>(&parsed)) {
    ++stats_.sets;
    commit_.AddPresence(set->user, set->online, net::FormatIp(from), set->msg_port, wall_clock_ms_());
    return;
  }
  if (auto* get = std::get_if<proto::GetBuddies>(&parsed)) {
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
    read->user.assign(get->user);
    std::memcpy(&read->from, from, net::AddressLength(from));
    ++reads_in_flight_;
    store_.ReadBuddies(read.release());  // comes back through Answer, now or later
    return;
  }
  ++stats_.malformed;
  if (auto reply = proto::ErrorReplyFor(datagram, std::get<proto::DatagramError>(parsed))) {
    sender_.SendReply(proto::ReplyLine(*reply), from);
  }
}

void PresenceService::Answer(Read& read) {
  std::unique_ptr<Read> owned(&read);
  --reads_in_flight_;
  const auto* to = reinterpret_cast<const sockaddr*>(&read.from);
  if (!read.status.ok()) {
    ++stats_.store_errors;
    IM_LOG(kWarn, "udp GET %s: %s", read.user.c_str(), read.status.message().c_str());
    sender_.SendReply(proto::ReplyLine(proto::Reply::kServerError), to);
  } else if (!read.exists) {
    ++stats_.unknown_users;
    sender_.SendReply(proto::ReplyLine(proto::Reply::kNoSuchUser), to);
  } else {
    ++stats_.gets;
    int64_t online_since = wall_clock_ms_() - presence_ttl_ms_;
    reply_.clear();
    for (const BuddyRow& row : read.rows) {
      // A SET still waiting in memory is newer than anything stored.
      const Presence* p = commit_.FindPending(row.id);
      if (p == nullptr && row.has_presence) p = &row.presence;
      bool online = p != nullptr && p->online && p->updated_ms > online_since;
      proto::AppendBuddyLine(&reply_, row.id, online, online ? std::string_view(p->ip) : "", online ? p->port : 0);
    }
    sender_.SendReply(reply_, to);
  }
  free_reads_.push_back(std::move(owned));
}

}  // namespace im::server
