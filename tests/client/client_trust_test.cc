// What im-client believes, tested as an attacker would: forged presence replies from other
// addresses, hostile buddy lines, escape sequences in server replies and chat lines, and
// callers that claim to be a buddy. A fake presence server (a UDP socket of the test) lets
// the test say exactly what the client hears; accounts go to a real im-server or a fake.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "tests/client/client_proc.h"
#include "tests/client/fakes.h"
#include "tests/support/net.h"
#include "tests/support/process.h"

namespace im::test {
namespace {

using namespace std::chrono_literals;

class ClientTrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer(dir_.File("im.db"), dir_.File("server.log"));
    ASSERT_GT(server_.tcp_port, 0);
  }
  // plain: also take plain-text chats, as the raw peers below speak them.
  std::unique_ptr<ClientProc> Client(const std::string& user, int account_port = 0, bool plain = false) {
    std::vector<std::string> args = {"--server", "127.0.0.1:" + std::to_string(account_port ? account_port : server_.tcp_port),
                                     "--presence", "127.0.0.1:" + std::to_string(presence_.port()),
                                     "--interval", "0.1", "--timeout", "1", "--user", user};
    if (plain) args.push_back("--plain-chat");
    return std::make_unique<ClientProc>(args, dir_.File(user + std::to_string(count_++) + ".log"));
  }
  // Waits for the client to log in and reach the fake presence server; returns its chat port.
  int Online(ClientProc& c) {
    auto port = c.process().WaitForLog("chats come in on port ([0-9]+)", 3000);
    EXPECT_TRUE(port.has_value()) << c.process().Log();
    EXPECT_TRUE(presence_.Receive().has_value());
    return port ? std::stoi(*port) : 0;
  }

  TempDir dir_;
  ServerHandle server_;
  FakePresence presence_;
  int count_ = 0;
};

TEST_F(ClientTrustTest, AForgedGetReplyFromAnotherAddressIsIgnored) {
  auto alice = Client("alice");
  Online(*alice);
  // Forgeries first, from another host and from another port of this one.
  UdpClient other_host("127.0.0.2"), other_port;
  other_host.Send(presence_.client_port(), "mallory 100 ONLINE 127.0.0.2 4444\n");
  other_port.Send(presence_.client_port(), "mallory 100 ONLINE 127.0.0.1 4444\n");
  std::this_thread::sleep_for(100ms);
  presence_.Reply("bob 100 ONLINE 127.0.0.1 5555\n");
  EXPECT_TRUE(alice->Saw("bob is now ONLINE at 127.0.0.1:5555"));
  alice->Line("list");
  EXPECT_TRUE(alice->Saw("  bob         ONLINE   127.0.0.1:5555"));
  EXPECT_EQ(alice->process().CountLog("mallory"), 0) << alice->process().Log();
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
}

TEST_F(ClientTrustTest, AOneShotGetTakesItsReplyOnlyFromThePresenceServer) {
  std::vector<std::string> argv = {BinaryPath("IM_CLIENT"), "--presence", "127.0.0.1:" + std::to_string(presence_.port()),
                                   "--timeout", "2", "get", "alice"};
  auto get = Process::Start(argv, dir_.File("get.log"));
  ASSERT_EQ(presence_.Receive(), "GET alice\n");
  UdpClient other_host("127.0.0.2");
  other_host.Send(presence_.client_port(), "mallory 100 ONLINE 127.0.0.2 4444\n");
  std::this_thread::sleep_for(100ms);
  presence_.Reply("bob 101 OFFLINE unknown 0\n");
  EXPECT_EQ(get->Wait(3000), 0);
  EXPECT_EQ(get->Log(), "bob 101 OFFLINE unknown 0\n");
}

TEST_F(ClientTrustTest, AReplyWithANonNumericAddressOrTooManyBuddiesIsRejectedWhole) {
  auto alice = Client("alice");
  Online(*alice);
  presence_.Reply("bob 100 ONLINE 127.0.0.1 5555\ncarol 100 ONLINE evil.example.com 5555\n");
  std::string huge;
  for (int i = 0; i <= 500; ++i) huge += "u" + std::to_string(10000 + i) + " 101 OFFLINE unknown 0\n";
  presence_.Reply(huge);  // one more than any server sends
  std::this_thread::sleep_for(200ms);
  presence_.Reply("dave 100 ONLINE ::1 6666\n");
  EXPECT_TRUE(alice->Saw("dave is now ONLINE at ::1:6666"));
  alice->Line("list");
  EXPECT_TRUE(alice->Saw("Buddies:"));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(alice->process().CountLog("bob|carol|evil|u10000"), 0) << alice->process().Log();
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
}

// Every raw byte a terminal could obey, from the server or a peer.
constexpr const char* kRawTerminalBytes[] = {"\x1b[2J", "\x1b]0", "\x07", "\x9b", "\xe2\x80\xae", "\xe2\x81\xa6"};

TEST_F(ClientTrustTest, EscapeSequencesAndC1BytesInAServerReplyAreShownAsQuestionMarks) {
  int account_port = 0;
  int listener = BoundSocket(SOCK_STREAM, &account_port);
  auto alice = Client("alice", account_port);
  ASSERT_TRUE(Readable(listener, 3000));
  int conn = accept(listener, nullptr, nullptr);
  EXPECT_EQ(ReadLine(conn, 2000), "REG alice");
  std::string evil_reply = "201 ALREADY REGISTERED \x1b[2J\x1b]0;pwned\x07 \xc2\x9b" "31m \x9b" "32m \xe2\x80\xae" "txet\n";
  ASSERT_EQ(write(conn, evil_reply.data(), evil_reply.size()), static_cast<ssize_t>(evil_reply.size()));
  close(conn);
  close(listener);
  // Control bytes make it no reply at all, and it is quoted safely.
  EXPECT_TRUE(alice->Saw("cannot log in as alice: 201 ALREADY REGISTERED ?[2J?]0;pwned? ?31m ?32m ?txet"))
      << alice->process().Log();
  EXPECT_EQ(alice->process().Wait(3000), 1);
  std::string raw = alice->process().Log();
  for (const char* bad : kRawTerminalBytes) EXPECT_EQ(raw.find(bad), std::string::npos) << "raw bytes reached the screen";
}

TEST_F(ClientTrustTest, C1BytesAndBidiOverridesInAChatLineAreShownAsQuestionMarks) {
  auto alice = Client("alice", 0, true);
  int chat_port = Online(*alice);
  presence_.Reply("bob 100 ONLINE 127.0.0.1 5555\n");
  ASSERT_TRUE(alice->Saw("bob is now ONLINE"));
  int fd = ConnectTcp(chat_port);  // bob, from bob's address
  std::string hello = "HELLO bob\nMSG hi \xc2\x9b" "31m red \x9b" "32m \xe2\x80\xae" "txet \xe2\x81\xa6" "x\n";
  ASSERT_EQ(write(fd, hello.data(), hello.size()), static_cast<ssize_t>(hello.size()));
  EXPECT_EQ(ReadLine(fd, 2000), "OK");
  EXPECT_TRUE(alice->Saw("bob: hi ?31m red ?32m ?txet ?x")) << alice->process().Log();
  std::string escape = "MSG \x1b[2Jgone\n";  // C0: not a chat line at all, ignored
  ASSERT_EQ(write(fd, escape.data(), escape.size()), static_cast<ssize_t>(escape.size()));
  std::string after = "MSG still here\n";
  ASSERT_EQ(write(fd, after.data(), after.size()), static_cast<ssize_t>(after.size()));
  EXPECT_TRUE(alice->Saw("bob: still here"));
  std::string raw = alice->process().Log();
  for (const char* bad : kRawTerminalBytes) EXPECT_EQ(raw.find(bad), std::string::npos) << "raw bytes reached the screen";
  close(fd);
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
}

TEST_F(ClientTrustTest, AHelloIsBelievedOnlyFromTheBuddysPresenceAddress) {
  auto alice = Client("alice", 0, true);
  int chat_port = Online(*alice);
  presence_.Reply("bob 100 ONLINE 127.0.0.1 5555\ncarol 101 OFFLINE unknown 0\n");
  ASSERT_TRUE(alice->Saw("bob is now ONLINE"));

  auto call = [&](const std::string& from, const std::string& claim) {
    int fd = ConnectTcp(chat_port, "127.0.0.1", from);
    std::string hello = "HELLO " + claim + "\n";
    EXPECT_EQ(write(fd, hello.data(), hello.size()), static_cast<ssize_t>(hello.size()));
    auto answer = ReadLine(fd, 2000);
    close(fd);
    return answer.value_or("(nothing)");
  };
  EXPECT_EQ(call("127.0.0.2", "bob"), "BUSY");  // bob's id, not bob's address
  EXPECT_TRUE(alice->Saw("refused a chat from 127.0.0.2 claiming to be bob (not bob's address)"));
  EXPECT_EQ(call("127.0.0.1", "carol"), "BUSY");
  EXPECT_TRUE(alice->Saw("refused a chat from 127.0.0.1 claiming to be carol (carol is OFFLINE)"));
  // A flood from one address: every call refused, one notice a second.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(call("127.0.0.3", "mallory"), "BUSY");
  EXPECT_TRUE(alice->Saw("refused a chat from 127.0.0.3 claiming to be mallory (mallory is not your buddy)"));
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(call("127.0.0.3", "mallory"), "BUSY");
  EXPECT_TRUE(alice->Saw("claiming to be mallory (mallory is not your buddy) (4 more refused since the last notice)"));
  EXPECT_EQ(alice->process().CountLog("127\\.0\\.0\\.3"), 2) << alice->process().Log();

  EXPECT_EQ(call("127.0.0.1", "bob"), "OK");  // the real bob still gets through
  EXPECT_TRUE(alice->Saw("bob wants to chat"));
  alice->Line("q");
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
}

TEST_F(ClientTrustTest, OneAddressCannotTakeEveryHandshakeSlot) {
  auto alice = Client("alice");
  int chat_port = Online(*alice);
  std::vector<int> silent;
  for (int i = 0; i < 4; ++i) silent.push_back(ConnectTcp(chat_port, "127.0.0.1", "127.0.0.4"));
  std::this_thread::sleep_for(100ms);
  int fifth = ConnectTcp(chat_port, "127.0.0.1", "127.0.0.4");
  std::string got;
  EXPECT_TRUE(ReadUntilClosed(fifth, &got, 500));  // dropped at once, long before the 1 s timeout
  int elsewhere = ConnectTcp(chat_port, "127.0.0.1", "127.0.0.5");
  EXPECT_FALSE(ReadUntilClosed(elsewhere, &got, 300));  // another host still gets a slot
  for (int fd : silent) close(fd);
  close(fifth);
  close(elsewhere);
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
}

}  // namespace
}  // namespace im::test
