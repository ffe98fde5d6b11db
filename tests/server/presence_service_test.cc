// The presence path without a socket: datagrams in, replies out through a fake sender,
// state in a FakeStore behind a real GroupCommit.
#include "server/presence_service.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <vector>

#include "auth/keys.h"
#include "net/address.h"
#include "server/group_commit.h"
#include "tests/server/fake_store.h"
#include "tests/support/test_loop.h"

namespace im::server {
namespace {

int64_t g_now_ms = 1'000'000;
int64_t FakeClock() { return g_now_ms; }

class Sender : public PresenceService::ReplySender {
 public:
  void SendReply(std::string_view bytes, const sockaddr* to) override {
    sent.emplace_back(std::string(bytes), net::FormatAddress(to));
  }
  std::vector<std::pair<std::string, std::string>> sent;  // bytes, to
};

class Committed : public GroupCommit::Sink {
 public:
  void OnCommitted(uint64_t, proto::Reply) override {}
};

class PresenceServiceTest : public ::testing::Test {
 protected:
  PresenceServiceTest()
      : commit_(loop_.get(), store_, committed_, 1000, FakeClock),
        service_(store_, commit_, sender_, proofs_, /*ttl=*/30000, FakeClock) {
    store_.users = {"alice", "bob", "carol"};
    store_.buddies["alice"] = {"bob", "carol"};
    proofs_.SetSecret(std::string(32, 's'));
    service_.SetSecret(std::string(32, 's'));
  }
  ~PresenceServiceTest() override { commit_.Close(); }
  sockaddr_storage From(const char* ip, int port) {
    sockaddr_storage a;
    EXPECT_TRUE(net::ParseIp(ip, port, &a));
    return a;
  }
  void Datagram(std::string_view bytes, const char* ip = "192.0.2.10", int port = 5555) {
    sockaddr_storage from = From(ip, port);
    service_.OnDatagram(bytes, reinterpret_cast<sockaddr*>(&from));
  }
  std::string LastReply() { return sender_.sent.empty() ? "(none)" : sender_.sent.back().first; }

  // Makes bob a protected account with a live session, as a log-in would.
  void ProtectBob() {
    store_.password_hashes["bob"] = "$argon2id$fake";
    store_.sessions[kSession] = test::FakeStore::Session{"bob", g_now_ms + 3600000};
  }
  // The cookie the server gives this source (from the COOKIE answer to a bare proof).
  std::string CookieFor(const char* ip, int port) {
    sockaddr_storage from = From(ip, port);
    return auth::CookieJar(std::string(32, 's')).Issue(reinterpret_cast<sockaddr*>(&from), g_now_ms);
  }
  // A datagram signed as bob's client signs it.
  std::string Signed(const std::string& unsigned_datagram, uint64_t counter, int64_t time_ms = 0,
                     const char* user = "bob") {
    proto::Proof proof{kSession, time_ms ? time_ms : g_now_ms, counter, ""};
    std::string text = proto::DatagramSignedText(unsigned_datagram, proof);
    std::string key = proofs_.KeyFor(kSession, user, store_.sessions[kSession].expires_ms);
    return proto::SignedDatagram(text, auth::Mac(key, text));
  }
  static constexpr char kSession[] = "bobsessionbobsession00";

  test::TestLoop loop_;
  test::FakeStore store_;
  Proofs proofs_;
  Committed committed_;
  GroupCommit commit_;
  Sender sender_;
  PresenceService service_;
};

TEST_F(PresenceServiceTest, ASetIsSeenByTheNextGetAtOnceWithItsSourceIp) {
  Datagram("SET bob ONLINE 7000", "198.51.100.4");
  EXPECT_TRUE(sender_.sent.empty()) << "SET has no reply";
  Datagram("GET alice", "192.0.2.10", 5555);
  ASSERT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(sender_.sent[0].first, "bob 100 ONLINE 198.51.100.4 7000\ncarol 101 OFFLINE unknown 0\n");
  EXPECT_EQ(sender_.sent[0].second, "192.0.2.10:5555") << "the reply goes to the asker";
}

TEST_F(PresenceServiceTest, StoredPresenceExpiresAfterTheTtl) {
  store_.presence["bob"] = Presence{true, "198.51.100.4", 7000, g_now_ms - 29000};
  Datagram("GET alice");
  EXPECT_EQ(LastReply(), "bob 100 ONLINE 198.51.100.4 7000\ncarol 101 OFFLINE unknown 0\n");
  g_now_ms += 2000;
  Datagram("GET alice");
  EXPECT_EQ(LastReply(), "bob 101 OFFLINE unknown 0\ncarol 101 OFFLINE unknown 0\n");
}

TEST_F(PresenceServiceTest, PendingPresenceWinsOverStoredAndExpiresToo) {
  store_.presence["bob"] = Presence{true, "198.51.100.4", 7000, g_now_ms - 1000};
  store_.presence["carol"] = Presence{true, "198.51.100.5", 7001, g_now_ms - 1000};
  Datagram("SET bob OFFLINE 0", "198.51.100.4");
  Datagram("SET carol ONLINE 8000", "203.0.113.9");
  Datagram("SET nobody ONLINE 1", "203.0.113.9");  // not a buddy: not listed
  Datagram("GET alice");
  EXPECT_EQ(LastReply(), "bob 101 OFFLINE unknown 0\ncarol 100 ONLINE 203.0.113.9 8000\n");
  g_now_ms += 31000;  // pending presence expires like stored presence
  Datagram("GET alice");
  EXPECT_EQ(LastReply(), "bob 101 OFFLINE unknown 0\ncarol 101 OFFLINE unknown 0\n");
}

TEST_F(PresenceServiceTest, ErrorsAnswerGetsAndNothingElse) {
  Datagram("GET nobody");
  EXPECT_EQ(LastReply(), "202 NO SUCH USER\n");
  Datagram("GET b@d");
  EXPECT_EQ(LastReply(), "202 NO SUCH USER\n");
  Datagram("GET a b");
  EXPECT_EQ(LastReply(), "400 BAD REQUEST\n");
  size_t before = sender_.sent.size();
  Datagram("SET alice AWAY 1");
  Datagram("garbage \x01\x02");
  Datagram("");
  EXPECT_EQ(sender_.sent.size(), before) << "no reply to anything but a GET";
  EXPECT_EQ(service_.stats().malformed, 5u);
  store_.read_status = StoreStatus::Error("disk on fire");
  Datagram("GET alice");
  EXPECT_EQ(LastReply(), "500 SERVER ERROR\n");
}

TEST_F(PresenceServiceTest, ReadsThatCompleteLaterAreAnsweredToTheirOwnSources) {
  store_.inline_reads = false;
  Datagram("GET alice", "192.0.2.1", 1);
  Datagram("GET nobody", "192.0.2.2", 2);
  Datagram("GET carol", "192.0.2.3", 3);
  EXPECT_TRUE(sender_.sent.empty());
  EXPECT_EQ(store_.reads_waiting(), 3u);
  store_.CompleteReads();
  ASSERT_EQ(sender_.sent.size(), 3u);
  EXPECT_EQ(sender_.sent[0].second, "192.0.2.1:1");
  EXPECT_EQ(sender_.sent[1], (std::pair<std::string, std::string>{"202 NO SUCH USER\n", "192.0.2.2:2"}));
  EXPECT_EQ(sender_.sent[2], (std::pair<std::string, std::string>{"", "192.0.2.3:3"})) << "empty list: empty datagram";
}

TEST_F(PresenceServiceTest, ReadsInFlightAreBounded) {
  store_.inline_reads = false;
  // From many addresses, so the per-source rate limit is not what stops them.
  for (size_t i = 0; i < PresenceService::kMaxReadsInFlight + 10; ++i) {
    std::string ip = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    Datagram("GET alice", ip.c_str());
  }
  EXPECT_EQ(store_.reads_waiting(), PresenceService::kMaxReadsInFlight);
  EXPECT_EQ(service_.stats().gets_shed, 10u);
  store_.CompleteReads();
  EXPECT_EQ(sender_.sent.size(), PresenceService::kMaxReadsInFlight);
}

TEST_F(PresenceServiceTest, AStrangersSetCannotMoveAProtectedUser) {
  ProtectBob();
  std::string cookie = CookieFor("198.51.100.4", 4000);
  Datagram(Signed(proto::FormatSet("bob", true, 7000, cookie), 1), "198.51.100.4", 4000);
  Datagram("SET bob ONLINE 6666", "203.0.113.66");  // the stranger, right after
  commit_.FlushBefore(uv_now(loop_.get()) + 100);
  loop_.Iterate();
  EXPECT_EQ(store_.presence["bob"].ip, "198.51.100.4") << "the proven SET stands";
  EXPECT_EQ(store_.presence["bob"].port, 7000);
  EXPECT_EQ(store_.sessions[kSession].datagram_counter, 1u) << "the counter is written behind";
  EXPECT_EQ(service_.stats().proven, 1u);
}

TEST_F(PresenceServiceTest, AProofWithoutACookieGetsOneAndChangesNothing) {
  ProtectBob();
  Datagram(Signed(proto::FormatSet("bob", true, 7000), 1), "198.51.100.4", 4000);
  ASSERT_EQ(sender_.sent.size(), 1u);
  auto reply = proto::ParseGetReply(sender_.sent[0].first);
  ASSERT_EQ(reply.kind, proto::GetReply::Kind::kCookie);
  EXPECT_EQ(reply.cookie, CookieFor("198.51.100.4", 4000));
  EXPECT_EQ(commit_.FindPending("bob"), nullptr);
  // The same counter is still good with the cookie: a datagram that failed moved nothing.
  Datagram(Signed(proto::FormatSet("bob", true, 7000, reply.cookie), 1), "198.51.100.4", 4000);
  ASSERT_NE(commit_.FindPending("bob"), nullptr);
  EXPECT_TRUE(commit_.FindPending("bob")->proven);
}

TEST_F(PresenceServiceTest, ForgedReplayedStaleAndMovedProofsAreDropped) {
  ProtectBob();
  std::string cookie = CookieFor("198.51.100.4", 4000);
  std::string good = Signed(proto::FormatSet("bob", true, 7000, cookie), 5);
  std::string forged = good;
  forged.replace(forged.find("7000"), 4, "6666");  // any field changed
  Datagram(forged, "198.51.100.4", 4000);
  EXPECT_EQ(service_.stats().bad_proofs, 1u);
  Datagram(Signed(proto::FormatSet("bob", true, 7000, cookie), 6, g_now_ms - 31000), "198.51.100.4", 4000);
  EXPECT_EQ(service_.stats().bad_proofs, 2u) << "older than the window";
  Datagram(Signed(proto::FormatSet("alice", true, 7000, cookie), 7, 0, "bob"), "198.51.100.4", 4000);
  EXPECT_EQ(service_.stats().bad_proofs, 3u) << "bob's session does not speak for alice";
  EXPECT_EQ(commit_.FindPending("bob"), nullptr);
  EXPECT_EQ(commit_.FindPending("alice"), nullptr);

  Datagram(good, "198.51.100.4", 4000);
  EXPECT_EQ(service_.stats().proven, 1u) << "the forgeries did not use up counter 5";
  Datagram(good, "198.51.100.4", 4000);
  EXPECT_EQ(service_.stats().replays, 1u);
  // Recorded here, replayed from another address: the cookie does not match there.
  size_t sent = sender_.sent.size();
  Datagram(good, "203.0.113.66", 4000);
  EXPECT_EQ(sender_.sent.size(), sent + 1);
  EXPECT_EQ(proto::ParseGetReply(sender_.sent.back().first).kind, proto::GetReply::Kind::kCookie);
  EXPECT_EQ(commit_.FindPending("bob")->ip, "198.51.100.4");

  // Long after, once the presence expired, the same datagram is refused (its time is out
  // of the window), and so is counter 5 signed anew: the session remembers it.
  g_now_ms += 600000;
  Datagram(good, "198.51.100.4", 4000);
  std::string fresh_cookie = CookieFor("198.51.100.4", 4000);
  uint64_t replays = service_.stats().replays;
  Datagram(Signed(proto::FormatSet("bob", true, 7000, fresh_cookie), 5), "198.51.100.4", 4000);
  EXPECT_EQ(service_.stats().replays, replays + 1);
  EXPECT_EQ(service_.stats().proven, 1u);
  Datagram(Signed(proto::FormatSet("bob", true, 7000, fresh_cookie), 6), "198.51.100.4", 4000);
  EXPECT_EQ(service_.stats().proven, 2u) << "the next counter is good";
}

TEST_F(PresenceServiceTest, ProtectedListsNeedProofAndHideProtectedBuddies) {
  ProtectBob();
  store_.users.insert("dave");
  store_.buddies["bob"] = {"alice"};
  store_.presence["bob"] = Presence{true, "198.51.100.4", 7000, g_now_ms - 1000, true};
  Datagram("GET bob", "203.0.113.66");
  EXPECT_EQ(LastReply(), "401 UNAUTHORIZED\n");
  Datagram("GET alice", "203.0.113.66");
  EXPECT_EQ(LastReply(), "bob 101 OFFLINE unknown 0\ncarol 101 OFFLINE unknown 0\n")
      << "an unproven asker does not see a protected buddy's address";
  std::string cookie = CookieFor("198.51.100.4", 4000);
  Datagram(Signed(proto::FormatGet("bob", cookie), 1), "198.51.100.4", 4000);
  EXPECT_EQ(LastReply(), "alice 101 OFFLINE unknown 0\n");
}

TEST_F(PresenceServiceTest, UnvalidatedAnswersAreBoundedAndRateLimited) {
  // 100 buddies: a list far over 3 x the 10-byte GET, and over the 256-byte floor.
  for (int i = 0; i < 100; ++i) {
    std::string id = "buddy" + std::to_string(i);
    store_.users.insert(id);
    store_.buddies["carol"].insert(id);
  }
  Datagram("GET carol", "203.0.113.9", 53);
  auto reply = proto::ParseGetReply(LastReply());
  ASSERT_EQ(reply.kind, proto::GetReply::Kind::kCookie) << "the list is not sent to an unproven address";
  EXPECT_LE(LastReply().size(), 256u);
  Datagram(proto::FormatGet("carol", reply.cookie), "203.0.113.9", 53);
  EXPECT_EQ(proto::ParseGetReply(LastReply()).buddies.size(), 100u) << "the round trip gets it in full";
  Datagram(proto::FormatGet("carol", reply.cookie), "203.0.113.10", 53);
  EXPECT_EQ(proto::ParseGetReply(LastReply()).kind, proto::GetReply::Kind::kCookie) << "a cookie is per address";

  size_t before = sender_.sent.size();
  for (int i = 0; i < 1000; ++i) Datagram("GET alice", "203.0.113.77", 53);
  size_t answered = sender_.sent.size() - before;
  EXPECT_LE(answered, static_cast<size_t>(PresenceService::kUnvalidatedBurst) + 1);
  EXPECT_GE(service_.stats().rate_limited, 1000u - answered);
}

}  // namespace
}  // namespace im::server
