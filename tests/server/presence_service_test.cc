// The presence path without a socket: datagrams in, replies out through a fake sender,
// state in a FakeStore behind a real GroupCommit.
#include "server/presence_service.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <vector>

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
      : commit_(loop_.get(), store_, committed_, 1000), service_(store_, commit_, sender_, /*ttl=*/30000, FakeClock) {
    store_.users = {"alice", "bob", "carol"};
    store_.buddies["alice"] = {"bob", "carol"};
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

  test::TestLoop loop_;
  test::FakeStore store_;
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
  for (size_t i = 0; i < PresenceService::kMaxReadsInFlight + 10; ++i) Datagram("GET alice");
  EXPECT_EQ(store_.reads_waiting(), PresenceService::kMaxReadsInFlight);
  EXPECT_EQ(service_.stats().gets_shed, 10u);
  store_.CompleteReads();
  EXPECT_EQ(sender_.sent.size(), PresenceService::kMaxReadsInFlight);
}

}  // namespace
}  // namespace im::server
