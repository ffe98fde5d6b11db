// im-server's UDP presence protocol: SET, GET, expiry (and the purge of expired rows
// from the SQLite file), and garbage.
#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "tests/server/server_fixture.h"

namespace im::test {
namespace {

// Polls GET until the reply equals `want` (presence is committed at the end of a loop
// iteration, so it shows up a moment after the SET); returns the last reply.
std::string GetUntil(const UdpClient& udp, int port, const std::string& user,
                     const std::string& want, int timeout_ms = 2000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last = "(no reply)";
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto r = udp.Ask(port, "GET " + user, 500)) last = *r;
    if (last == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return last;
}

class PresenceTest : public ServerTest {
 protected:
  void SetUp() override {
    Start({"--presence-ttl", "1"});
    for (const char* id : {"alice", "bob", "carol"}) ASSERT_EQ(Request(std::string("REG ") + id), "200 OK");
    ASSERT_EQ(Request("ADD alice bob"), "200 OK");
    ASSERT_EQ(Request("ADD alice carol"), "200 OK");
  }
};

TEST_F(PresenceTest, GetListsBuddiesSortedAndOfflineByDefault) {
  EXPECT_EQ(Ask("GET alice"), "bob 101 OFFLINE unknown 0\ncarol 101 OFFLINE unknown 0\n");
  EXPECT_EQ(Ask("get alice\n"), "bob 101 OFFLINE unknown 0\ncarol 101 OFFLINE unknown 0\n");
}

TEST_F(PresenceTest, EmptyListIsAnEmptyDatagram) {
  EXPECT_EQ(Ask("GET bob"), "");
}

TEST_F(PresenceTest, SetOnlineShowsSourceIpAndPortThenOffline) {
  UdpClient bob;
  bob.Send(server_.udp_port, "SET bob ONLINE 40123");
  EXPECT_EQ(GetUntil(udp_, server_.udp_port, "alice",
                     "bob 100 ONLINE 127.0.0.1 40123\ncarol 101 OFFLINE unknown 0\n"),
            "bob 100 ONLINE 127.0.0.1 40123\ncarol 101 OFFLINE unknown 0\n");
  bob.Send(server_.udp_port, "set bob 101 0\r\n");
  EXPECT_EQ(GetUntil(udp_, server_.udp_port, "alice",
                     "bob 101 OFFLINE unknown 0\ncarol 101 OFFLINE unknown 0\n"),
            "bob 101 OFFLINE unknown 0\ncarol 101 OFFLINE unknown 0\n");
  bob.Send(server_.udp_port, "SET bob 100 7");
  EXPECT_EQ(GetUntil(udp_, server_.udp_port, "alice",
                     "bob 100 ONLINE 127.0.0.1 7\ncarol 101 OFFLINE unknown 0\n"),
            "bob 100 ONLINE 127.0.0.1 7\ncarol 101 OFFLINE unknown 0\n");
}

TEST_F(PresenceTest, AChatKeyIsStoredWithPresenceAndShownOnlyToWhoAsksForKeys) {
  const std::string key = "Zm9vYmFyYmF6cXV4cXV1eA";  // 22 base64url characters
  UdpClient bob;
  bob.Send(server_.udp_port, "SET bob ONLINE 40123 k=" + key);
  std::string with_key = "bob 100 ONLINE 127.0.0.1 40123 k=" + key + "\ncarol 101 OFFLINE unknown 0\n";
  EXPECT_EQ(GetUntil(udp_, server_.udp_port, "alice k=1", with_key), with_key);
  // The project description's GET is answered exactly as before.
  EXPECT_EQ(Ask("GET alice"), "bob 100 ONLINE 127.0.0.1 40123\ncarol 101 OFFLINE unknown 0\n");
  // A SET without a key (an old client on the same account) clears it, OFFLINE too.
  bob.Send(server_.udp_port, "SET bob ONLINE 40124");
  std::string no_key = "bob 100 ONLINE 127.0.0.1 40124\ncarol 101 OFFLINE unknown 0\n";
  EXPECT_EQ(GetUntil(udp_, server_.udp_port, "alice k=1", no_key), no_key);
  bob.Send(server_.udp_port, "SET bob ONLINE 40125 k=" + key);
  bob.Send(server_.udp_port, "SET bob OFFLINE 0 k=" + key);
  std::string offline = "bob 101 OFFLINE unknown 0\ncarol 101 OFFLINE unknown 0\n";
  EXPECT_EQ(GetUntil(udp_, server_.udp_port, "alice k=1", offline), offline);
  // A malformed key is a malformed SET: dropped, nothing changes.
  bob.Send(server_.udp_port, "SET bob ONLINE 40126 k=not-a-key");
  EXPECT_EQ(Ask("GET alice k=2"), "400 BAD REQUEST\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Ask("GET alice k=1"), offline);
}

TEST_F(PresenceTest, PresenceExpiresAfterTtl) {
  udp_.Send(server_.udp_port, "SET carol ONLINE 5555");
  const std::string online = "bob 101 OFFLINE unknown 0\ncarol 100 ONLINE 127.0.0.1 5555\n";
  ASSERT_EQ(GetUntil(udp_, server_.udp_port, "alice", online), online);
  auto set_at = std::chrono::steady_clock::now();
  const std::string offline = "bob 101 OFFLINE unknown 0\ncarol 101 OFFLINE unknown 0\n";
  EXPECT_EQ(GetUntil(udp_, server_.udp_port, "alice", offline, 3000), offline);
  // Not before the 1 s ttl.
  EXPECT_GE(std::chrono::steady_clock::now() - set_at, std::chrono::milliseconds(800));
}

// Rows of the file's presence table for `user`, through a connection of the test's own.
int PresenceRows(const std::string& db_path, const std::string& user) {
  sqlite3* db = nullptr;
  int rows = -1;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    std::string sql = "SELECT count(*) FROM presence WHERE user = '" + user + "'";
    sqlite3_exec(db, sql.c_str(), [](void* out, int, char** v, char**) {
      *static_cast<int*>(out) = v[0] ? std::atoi(v[0]) : 0;
      return 0;
    }, &rows, nullptr);
  }
  sqlite3_close(db);
  return rows;
}

// Expired presence leaves the file within a purge interval of expiring (the TTL is 1 s
// here), while a buddy who keeps sending SETs keeps his row and shows online.
TEST_F(PresenceTest, ExpiredPresenceIsPurgedFromTheFileAndOnlineBuddiesStay) {
  if (Engines() != "sqlite") GTEST_SKIP() << "reads the SQLite file";
  udp_.Send(server_.udp_port, "SET bob ONLINE 40123");
  udp_.Send(server_.udp_port, "SET carol ONLINE 5555");
  const std::string both = "bob 100 ONLINE 127.0.0.1 40123\ncarol 100 ONLINE 127.0.0.1 5555\n";
  ASSERT_EQ(GetUntil(udp_, server_.udp_port, "alice", both), both);
  // The GET may have come from the SETs waiting in memory: wait for the commit.
  auto committed_by = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (PresenceRows(db(), "bob") != 1 && std::chrono::steady_clock::now() < committed_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(PresenceRows(db(), "bob"), 1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (PresenceRows(db(), "bob") != 0 && std::chrono::steady_clock::now() < deadline) {
    udp_.Send(server_.udp_port, "SET carol ONLINE 5555");  // her heartbeat
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(PresenceRows(db(), "bob"), 0) << "bob's expired row is purged";
  EXPECT_EQ(PresenceRows(db(), "carol"), 1);
  udp_.Send(server_.udp_port, "SET carol ONLINE 5555");
  const std::string carol_only = "bob 101 OFFLINE unknown 0\ncarol 100 ONLINE 127.0.0.1 5555\n";
  EXPECT_EQ(GetUntil(udp_, server_.udp_port, "alice", carol_only), carol_only);
}

TEST_F(PresenceTest, UnknownUsersAndMalformedDatagrams) {
  EXPECT_EQ(Ask("GET ghost"), "202 NO SUCH USER\n");
  EXPECT_EQ(Ask("GET b@d"), "202 NO SUCH USER\n");
  EXPECT_EQ(Ask("GET"), "400 BAD REQUEST\n");
  EXPECT_EQ(Ask("GET alice bob"), "400 BAD REQUEST\n");
  EXPECT_EQ(Ask(std::string("GET al\0ce", 9)), "400 BAD REQUEST\n");
  // SETs never get a reply, well-formed or not; nor does garbage.
  for (std::string d : {"SET alice ONLINE 1", "SET alice AWAY 1", "SET ghost ONLINE 1", "HELLO", ""}) {
    EXPECT_EQ(udp_.Ask(server_.udp_port, d, 200), std::nullopt) << d;
  }
  // A SET for an unregistered user is dropped: registering later shows no stale presence.
  ASSERT_EQ(Request("REG ghost"), "200 OK");
  ASSERT_EQ(Request("ADD bob ghost"), "200 OK");
  EXPECT_EQ(Ask("GET bob"), "ghost 101 OFFLINE unknown 0\n");
}

TEST_F(PresenceTest, GarbageFloodDoesNotStopService) {
  UdpClient flooder;
  std::string junk(512, '\0');
  for (int i = 0; i < 20000; ++i) {
    junk[i % junk.size()] = static_cast<char>(i * 7);
    flooder.Send(server_.udp_port, i % 2 ? junk : std::string_view("SET alice 1 2 3 4"));
  }
  EXPECT_EQ(AskUntilAnswered("GET alice"), "bob 101 OFFLINE unknown 0\ncarol 101 OFFLINE unknown 0\n");
  EXPECT_EQ(Request("REG after.flood"), "200 OK");
}

TEST_F(PresenceTest, ManySetsForManyUsersAreAllApplied) {
  constexpr int kUsers = 200;
  for (int i = 0; i < kUsers; ++i) ASSERT_EQ(Request("REG m" + std::to_string(i)), "200 OK");
  ASSERT_EQ(Request("REG watcher"), "200 OK");
  ASSERT_EQ(Request("ADD watcher m0"), "200 OK");
  ASSERT_EQ(Request("ADD watcher m199"), "200 OK");
  for (int i = 0; i < kUsers; ++i) {
    udp_.Send(server_.udp_port, "SET m" + std::to_string(i) + " ONLINE " + std::to_string(1000 + i));
  }
  const std::string want = "m0 100 ONLINE 127.0.0.1 1000\nm199 100 ONLINE 127.0.0.1 1199\n";
  EXPECT_EQ(GetUntil(udp_, server_.udp_port, "watcher", want), want);
}

}  // namespace
}  // namespace im::test
