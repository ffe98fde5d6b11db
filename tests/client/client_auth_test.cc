// im-client with protected accounts against a real im-server: registering and logging in
// with a password, proven ADD/DEL, proven presence with the cookie round trip, and a chat
// between two protected buddies; what an unproven client gets instead.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "tests/client/client_proc.h"
#include "tests/support/net.h"
#include "tests/support/process.h"

namespace im::test {
namespace {

class ClientAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer(dir_.File("im.db"), dir_.File("server.log"),
                          {"--presence-ttl", "1", "--password-cost", "minimum"});
    ASSERT_GT(server_.tcp_port, 0);
  }
  std::vector<std::string> Args() {
    return {"--server", "127.0.0.1:" + std::to_string(server_.tcp_port), "--presence",
            "127.0.0.1:" + std::to_string(server_.udp_port), "--interval", "0.1", "--timeout", "2"};
  }
  std::unique_ptr<ClientProc> Client(const std::string& user, const std::vector<std::string>& env = {}) {
    auto args = Args();
    args.insert(args.end(), {"--user", user});
    return std::make_unique<ClientProc>(args, dir_.File(user + std::to_string(count_++) + ".log"), false, env);
  }
  std::pair<int, std::string> OneShot(const std::vector<std::string>& cmd, const std::string& password = "") {
    std::vector<std::string> argv = {BinaryPath("IM_CLIENT")};
    auto args = Args();
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    std::vector<std::string> env;
    if (!password.empty()) env.push_back("IM_PASSWORD=" + password);
    auto p = Process::Start(argv, dir_.File("oneshot" + std::to_string(count_++) + ".log"), env);
    int rc = p->Wait(5000);
    return {rc, p->Log()};
  }

  TempDir dir_;
  ServerHandle server_;
  int count_ = 0;
};

TEST_F(ClientAuthTest, ProtectedBuddiesSeeEachOtherAndChatWhileStrangersGet401) {
  EXPECT_EQ(OneShot({"reg", "alice"}, "alice-password"), std::make_pair(0, std::string("200 OK\n")));
  EXPECT_EQ(OneShot({"reg", "bob"}, "bob-password"), std::make_pair(0, std::string("200 OK\n")));
  EXPECT_EQ(OneShot({"reg", "alice"}, "alice-password"), std::make_pair(0, std::string("210 LOGGED IN\n")));
  EXPECT_EQ(OneShot({"add", "alice", "bob"}, "alice-password"), std::make_pair(0, std::string("200 OK\n")));
  EXPECT_EQ(OneShot({"add", "bob", "alice"}, "bob-password"), std::make_pair(0, std::string("200 OK\n")));
  // Without the password: no proof, nothing changes and nothing is shown.
  EXPECT_EQ(OneShot({"del", "alice", "bob"}), std::make_pair(1, std::string("401 UNAUTHORIZED\n")));
  EXPECT_EQ(OneShot({"add", "alice", "bob"}, "wrong-password"), std::make_pair(1, std::string("204 WRONG PASSWORD\n")));
  EXPECT_EQ(OneShot({"get", "alice"}), std::make_pair(1, std::string("401 UNAUTHORIZED\n")));

  auto alice = Client("alice", {"IM_PASSWORD=alice-password"});
  auto bob = Client("bob", {"IM_PASSWORD=bob-password"});
  EXPECT_TRUE(alice->Saw("Logged in as alice (210 LOGGED IN)"));
  EXPECT_TRUE(bob->Saw("Logged in as bob (210 LOGGED IN)"));
  // Proven SETs and GETs, through the cookie round trip, or neither would see the other.
  ASSERT_TRUE(alice->Saw("bob is now ONLINE at 127.0.0.1:")) << alice->process().Log();
  ASSERT_TRUE(bob->Saw("alice is now ONLINE at 127.0.0.1:")) << bob->process().Log();
  alice->Line("chat bob");
  ASSERT_TRUE(alice->Saw("Chatting with bob"));
  alice->Line("hello, protected bob");
  EXPECT_TRUE(bob->Saw("alice: hello, protected bob"));
  alice->Line("q");
  EXPECT_TRUE(bob->Saw("alice left the chat"));
  alice->Line("del bob");  // proven, in the interactive session
  EXPECT_TRUE(alice->Saw("bob deleted (200 OK)"));
  alice->Line("add bob");
  EXPECT_TRUE(alice->Saw("bob added (200 OK)"));
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
  EXPECT_TRUE(bob->Saw("alice is now OFFLINE"));  // a proven OFFLINE
  bob->Line("quit");
  EXPECT_EQ(bob->process().Wait(3000), 0);
  EXPECT_EQ(alice->process().Log().find("alice-password"), std::string::npos);
}

TEST_F(ClientAuthTest, APlainLogInToAProtectedAccountAsksForThePassword) {
  ASSERT_EQ(OneShot({"reg", "alice"}, "alice-password").first, 0);
  auto alice = Client("alice");
  EXPECT_TRUE(alice->Saw("alice has a password: log in with it (205 PASSWORD REQUIRED)"));
  alice->Line("alice-password");
  EXPECT_TRUE(alice->Saw("Logged in as alice (210 LOGGED IN)"));
  EXPECT_TRUE(alice->Saw("You are ONLINE"));
  alice->Line("list");
  EXPECT_TRUE(alice->Saw("no buddies yet"));  // a proven GET was answered
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
  EXPECT_EQ(alice->process().Log().find("alice-password"), std::string::npos);

  auto wrong = Client("alice");
  wrong->Line("not-her-password");
  EXPECT_TRUE(wrong->Saw("wrong password for alice (204 WRONG PASSWORD)"));
  EXPECT_EQ(wrong->process().Wait(3000), 1);
  // An account without a password refuses one.
  ASSERT_EQ(TcpRequest(server_.tcp_port, "REG carol"), "200 OK");
  auto carol = Client("carol", {"IM_PASSWORD=carol-password"});
  EXPECT_TRUE(carol->Saw("carol has no password: log in without one (206 ACCOUNT HAS NO PASSWORD)"));
  EXPECT_EQ(carol->process().Wait(3000), 1);
}

TEST_F(ClientAuthTest, OneShotGetAndSetOfAProtectedUserLogInAndProveThemselves) {
  ASSERT_EQ(OneShot({"reg", "alice"}, "alice-password").first, 0);
  ASSERT_EQ(OneShot({"reg", "bob"}, "bob-password").first, 0);
  ASSERT_EQ(OneShot({"add", "bob", "alice"}, "bob-password").first, 0);
  // Without a proof a protected user's SET is dropped and its GET refused.
  EXPECT_EQ(OneShot({"set", "alice", "ONLINE", "4242"}).first, 0);  // sent; nothing says it was dropped
  EXPECT_EQ(OneShot({"get", "bob"}, "bob-password"), std::make_pair(0, std::string("alice 101 OFFLINE unknown 0\n")));
  // Proven (after the cookie round trip), it counts.
  EXPECT_EQ(OneShot({"set", "alice", "ONLINE", "4242"}, "alice-password").first, 0);
  std::pair<int, std::string> got;
  std::string want = "alice 100 ONLINE 127.0.0.1 4242\n";
  for (int i = 0; i < 20 && got.second != want; ++i) got = OneShot({"get", "bob"}, "bob-password");
  EXPECT_EQ(got, std::make_pair(0, want));
  // An unproven GET sees a protected buddy offline, whatever its state.
  ASSERT_EQ(TcpRequest(server_.tcp_port, "REG carol"), "200 OK");
  ASSERT_EQ(TcpRequest(server_.tcp_port, "ADD carol alice"), "200 OK");
  EXPECT_EQ(OneShot({"get", "carol"}), std::make_pair(0, std::string("alice 101 OFFLINE unknown 0\n")));
}

TEST_F(ClientAuthTest, AOneShotGetOfALongListDoesTheCookieRoundTrip) {
  ASSERT_EQ(TcpRequest(server_.tcp_port, "REG dave"), "200 OK");
  std::string want;
  for (int i = 0; i < 30; ++i) {
    std::string id = "buddy" + std::to_string(10 + i);
    ASSERT_EQ(TcpRequest(server_.tcp_port, "REG " + id), "200 OK");
    ASSERT_EQ(TcpRequest(server_.tcp_port, "ADD dave " + id), "200 OK");
    want += id + " 101 OFFLINE unknown 0\n";
  }
  // 30 lines are far more than 3 x "GET dave": the server answers COOKIE first.
  EXPECT_EQ(OneShot({"get", "dave"}), std::make_pair(0, want));
  // The interactive client too, without a password: it keeps the cookie and gets the list.
  auto dave = Client("dave");
  ASSERT_TRUE(dave->Saw("You are ONLINE"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  dave->Line("list");
  EXPECT_TRUE(dave->Saw("  buddy39     OFFLINE")) << dave->process().Log();
  dave->Line("quit");
  EXPECT_EQ(dave->process().Wait(3000), 0);
}

}  // namespace
}  // namespace im::test
