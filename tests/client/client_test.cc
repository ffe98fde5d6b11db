// im-client driven as a user would: through a pipe and through a pseudo-terminal, against
// a real im-server on loopback.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "tests/client/client_proc.h"
#include "tests/support/net.h"
#include "tests/support/process.h"

namespace im::test {
namespace {

using namespace std::chrono_literals;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer(dir_.File("im.db"), dir_.File("server.log"), {"--presence-ttl", "1"});
    ASSERT_GT(server_.tcp_port, 0);
  }
  std::vector<std::string> Args(const std::string& user = "") {
    std::vector<std::string> args = {"--server", "127.0.0.1:" + std::to_string(server_.tcp_port), "--presence",
                                     "127.0.0.1:" + std::to_string(server_.udp_port), "--interval", "0.1",
                                     "--timeout", "1"};
    if (!user.empty()) {
      args.push_back("--user");
      args.push_back(user);
    }
    return args;
  }
  std::unique_ptr<ClientProc> Client(const std::string& user, bool pty = false,
                                     const std::vector<std::string>& extra = {}) {
    auto args = Args(user);
    args.insert(args.end(), extra.begin(), extra.end());
    auto c = std::make_unique<ClientProc>(args, dir_.File(user + std::to_string(count_++) + ".log"), pty);
    return c;
  }
  // Runs a one-shot command; returns {exit code, output}.
  std::pair<int, std::string> OneShot(const std::vector<std::string>& cmd) {
    std::vector<std::string> argv = {BinaryPath("IM_CLIENT")};
    auto args = Args();
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    std::string log = dir_.File("oneshot" + std::to_string(count_++) + ".log");
    auto p = Process::Start(argv, log);
    int rc = p->Wait(5000);
    return {rc, p->Log()};
  }

  TempDir dir_;
  ServerHandle server_;
  int count_ = 0;
};

TEST_F(ClientTest, RegistersThenWelcomesBack) {
  {
    auto alice = Client("alice");
    EXPECT_TRUE(alice->Saw("Registered as alice (200 OK)"));
    alice->Line("quit");
    EXPECT_EQ(alice->process().Wait(3000), 0);
  }
  auto again = Client("alice");
  EXPECT_TRUE(again->Saw("Welcome back, alice (201 ALREADY REGISTERED)"));
  again->CloseInput();  // end of input quits cleanly
  EXPECT_EQ(again->process().Wait(3000), 0);
  EXPECT_TRUE(again->Saw("Goodbye, alice."));
}

TEST_F(ClientTest, AsksForTheUserIdAndRejectsABadOne) {
  auto c = std::make_unique<ClientProc>(Args(), dir_.File("ask.log"));
  c->Line("b@d!");
  EXPECT_TRUE(c->Saw("\"b@d!\" is not a valid user id"));
  EXPECT_EQ(c->process().Wait(3000), 2);  // not a terminal: no second chance
}

TEST_F(ClientTest, ServerDownAtStartIsAClearErrorNotAHang) {
  server_.process->Signal(SIGKILL);
  server_.process->Wait(3000);
  auto c = Client("alice");
  EXPECT_TRUE(c->Saw("cannot reach server 127.0.0.1:" + std::to_string(server_.tcp_port) + ": connection refused"));
  EXPECT_EQ(c->process().Wait(3000), 1);
}

TEST_F(ClientTest, EveryCommandAnswersInWords) {
  auto alice = Client("alice");
  ASSERT_TRUE(alice->Saw("Registered as alice"));
  alice->Line("add bob");
  EXPECT_TRUE(alice->Saw("bob is not registered (202 NO SUCH USER)"));
  ASSERT_EQ(TcpRequest(server_.tcp_port, "REG bob"), "200 OK");
  alice->Line("1");  // the numbered menu asks for the id
  alice->Line("bob");
  EXPECT_TRUE(alice->Saw("bob added (200 OK)"));
  alice->Line("add bob");
  EXPECT_TRUE(alice->Saw("bob is already your buddy (201 ALREADY BUDDY)"));
  alice->Line("add alice");
  EXPECT_TRUE(alice->Saw("you cannot add yourself"));
  alice->Line("del carol");  // carol was never registered
  EXPECT_TRUE(alice->Saw("carol or your account is not registered (202 NO SUCH USER)"));
  alice->Line("list");
  EXPECT_TRUE(alice->Saw("  bob         OFFLINE"));
  alice->Line("chat bob");
  EXPECT_TRUE(alice->Saw("bob is OFFLINE: cannot chat"));
  alice->Line("chat zed");
  EXPECT_TRUE(alice->Saw("zed is not your buddy"));
  alice->Line("2 bob");
  EXPECT_TRUE(alice->Saw("bob deleted (200 OK)"));
  alice->Line("del bob");
  EXPECT_TRUE(alice->Saw("bob is not your buddy (201 NOT A BUDDY)"));
  alice->Line("list");
  EXPECT_TRUE(alice->Saw("no buddies yet"));
  alice->Line("frobnicate");
  EXPECT_TRUE(alice->Saw("unknown command: frobnicate (type help)"));
  alice->Line("help");  // the menu again: once at log-in, once now
  EXPECT_TRUE(alice->process().WaitForLog("1\\) add buddy[\\s\\S]*1\\) add buddy", 3000));
  alice->Line("6");
  EXPECT_EQ(alice->process().Wait(3000), 0);
}

TEST_F(ClientTest, BuddyStateChangesAndQuitSendsOffline) {
  ASSERT_EQ(TcpRequest(server_.tcp_port, "REG alice"), "200 OK");
  auto bob = Client("bob");
  ASSERT_TRUE(bob->Saw("Registered as bob"));
  bob->Line("add alice");
  ASSERT_TRUE(bob->Saw("alice added"));
  auto alice = Client("alice");
  EXPECT_TRUE(bob->Saw("alice is now ONLINE at 127.0.0.1:"));
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
  // OFFLINE arrives with the quit, well before the 1 s ttl could expire it.
  auto quit_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(bob->Saw("alice is now OFFLINE", 3000));
  EXPECT_LT(std::chrono::steady_clock::now() - quit_at, 900ms);
  auto [rc, out] = OneShot({"get", "bob"});
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "alice 101 OFFLINE unknown 0\n");
}

// SIGTERM and SIGINT (the client's signal handling is net::GracefulStop, as the daemons'):
// the client leaves as `quit` does, OFFLINE at once and exit 0, and does not hang.
TEST_F(ClientTest, SigtermAndSigintLeaveAsQuitDoes) {
  ASSERT_EQ(TcpRequest(server_.tcp_port, "REG alice"), "200 OK");
  auto bob = Client("bob");
  ASSERT_TRUE(bob->Saw("Registered as bob"));
  bob->Line("add alice");
  ASSERT_TRUE(bob->Saw("alice added"));
  for (int signum : {SIGTERM, SIGINT}) {
    int online_before = bob->process().CountLog("alice is now ONLINE at 127.0.0.1:");
    auto alice = Client("alice");
    for (int i = 0; i < 300 && bob->process().CountLog("alice is now ONLINE at 127.0.0.1:") == online_before; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(bob->process().CountLog("alice is now ONLINE at 127.0.0.1:"), online_before + 1) << bob->process().Log();
    int offline_before = bob->process().CountLog("alice is now OFFLINE");
    auto signalled_at = std::chrono::steady_clock::now();
    alice->process().Signal(signum);
    EXPECT_EQ(alice->process().Wait(3000), 0) << signum << "\n" << alice->process().Log();
    EXPECT_TRUE(alice->Saw("Goodbye, alice.")) << alice->process().Log();
    for (int i = 0; i < 100 && bob->process().CountLog("alice is now OFFLINE") == offline_before; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(bob->process().CountLog("alice is now OFFLINE"), offline_before + 1) << signum;
    EXPECT_LT(std::chrono::steady_clock::now() - signalled_at, 900ms) << "sent at exit, not expired by the ttl";
  }
}

TEST_F(ClientTest, ChatBothWaysBusyForASecondCallerAndAPeerVanishing) {
  for (const char* id : {"alice", "bob", "carol"}) ASSERT_EQ(TcpRequest(server_.tcp_port, std::string("REG ") + id), "200 OK");
  // A callee takes calls only from its buddies (at their presence address): both ways.
  for (const char* pair : {"ADD alice bob", "ADD carol bob", "ADD bob alice", "ADD bob carol"}) {
    ASSERT_EQ(TcpRequest(server_.tcp_port, pair), "200 OK");
  }
  auto bob = Client("bob");
  auto alice = Client("alice");
  auto carol = Client("carol");
  ASSERT_TRUE(alice->Saw("bob is now ONLINE"));
  ASSERT_TRUE(carol->Saw("bob is now ONLINE"));
  ASSERT_TRUE(bob->Saw("alice is now ONLINE"));
  ASSERT_TRUE(bob->Saw("carol is now ONLINE"));
  alice->Line("chat bob");
  ASSERT_TRUE(alice->Saw("Chatting with bob: type to send, q to end"));
  ASSERT_TRUE(bob->Saw("alice wants to chat: type to reply, q to end"));
  alice->Line("Hello buddy!");
  EXPECT_TRUE(bob->Saw("alice: Hello buddy!"));
  bob->Line("Nice to meet you buddy!");
  EXPECT_TRUE(alice->Saw("bob: Nice to meet you buddy!"));

  carol->Line("chat bob");
  EXPECT_TRUE(carol->Saw("bob is busy in another chat"));
  EXPECT_TRUE(bob->Saw("carol tried to chat with you (you are busy)"));

  alice->process().Signal(SIGKILL);  // alice vanishes mid-chat
  EXPECT_TRUE(bob->Saw("chat ended: alice disconnected"));
  bob->Line("list");  // back at the menu
  EXPECT_TRUE(bob->Saw("Buddies:"));
  carol->Line("quit");
  bob->Line("quit");
  EXPECT_EQ(carol->process().Wait(3000), 0);
  EXPECT_EQ(bob->process().Wait(3000), 0);
}

TEST_F(ClientTest, QEndsTheChatOnBothSides) {
  for (const char* l : {"REG alice", "REG bob", "ADD alice bob", "ADD bob alice"}) ASSERT_EQ(TcpRequest(server_.tcp_port, l), "200 OK");
  auto bob = Client("bob");
  auto alice = Client("alice");
  ASSERT_TRUE(alice->Saw("bob is now ONLINE"));
  ASSERT_TRUE(bob->Saw("alice is now ONLINE"));
  alice->Line("chat bob");
  ASSERT_TRUE(bob->Saw("alice wants to chat"));
  bob->Line("q");
  EXPECT_TRUE(bob->Saw("chat with alice ended"));
  EXPECT_TRUE(alice->Saw("bob left the chat"));
  alice->Line("quit");
  bob->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
  EXPECT_EQ(bob->process().Wait(3000), 0);
}

TEST_F(ClientTest, APeerThatNeverAnswersHelloTimesOut) {
  for (const char* l : {"REG alice", "REG mute", "ADD alice mute"}) ASSERT_EQ(TcpRequest(server_.tcp_port, l), "200 OK");
  // "mute" is online at a port where something listens but never speaks.
  int mute_port = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  listen(fd, 4);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  mute_port = ntohs(addr.sin_port);
  UdpClient mute;
  auto alice = Client("alice", false, {"--plain-chat"});  // mute publishes no chat key
  for (int i = 0; i < 30 && !alice->process().WaitForLog("mute is now ONLINE", 100); ++i) {
    mute.Send(server_.udp_port, "SET mute ONLINE " + std::to_string(mute_port));
  }
  ASSERT_TRUE(alice->Saw("mute is now ONLINE"));
  alice->Line("chat mute");
  EXPECT_TRUE(alice->Saw("mute did not answer (timeout)", 3000));
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
  close(fd);
}

TEST_F(ClientTest, ABuddyWithoutAChatKeyIsNotCalledInPlainTextUnlessAllowed) {
  for (const char* l : {"REG alice", "REG old", "ADD alice old"}) ASSERT_EQ(TcpRequest(server_.tcp_port, l), "200 OK");
  // "old" is a client from before encrypted chat: its SET carries no k=.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  listen(fd, 4);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int old_port = ntohs(addr.sin_port);
  UdpClient old;
  auto alice = Client("alice");
  for (int i = 0; i < 30 && !alice->process().WaitForLog("old is now ONLINE", 100); ++i) {
    old.Send(server_.udp_port, "SET old ONLINE " + std::to_string(old_port));
  }
  ASSERT_TRUE(alice->Saw("old is now ONLINE"));
  alice->Line("chat old");
  EXPECT_TRUE(alice->Saw("could not be encrypted"));
  // Nothing was dialled: the listener never sees a connection.
  pollfd pfd{fd, POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 300), 0);
  alice->Line("list");
  EXPECT_TRUE(alice->Saw("Buddies:"));
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
  close(fd);
}

TEST_F(ClientTest, ACallToAPortNobodyListensOnSaysSoAndTheMenuComesBack) {
  for (const char* l : {"REG alice", "REG ghost", "ADD alice ghost"}) ASSERT_EQ(TcpRequest(server_.tcp_port, l), "200 OK");
  // A port that was free a moment ago: nothing listens on it now.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int ghost_port = ntohs(addr.sin_port);
  close(fd);
  UdpClient ghost;
  auto alice = Client("alice", false, {"--plain-chat"});  // ghost publishes no chat key
  for (int i = 0; i < 30 && !alice->process().WaitForLog("ghost is now ONLINE", 100); ++i) {
    ghost.Send(server_.udp_port, "SET ghost ONLINE " + std::to_string(ghost_port));
  }
  ASSERT_TRUE(alice->Saw("ghost is now ONLINE"));
  alice->Line("chat ghost");
  EXPECT_TRUE(alice->Saw("cannot reach ghost: connection refused"));
  alice->Line("list");  // input flows again
  EXPECT_TRUE(alice->Saw("Buddies:"));
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);  // 0 also says no handle was left open
}

TEST_F(ClientTest, OneShotCommandsPrintTheReplyAndSetTheExitCode) {
  EXPECT_EQ(OneShot({"reg", "alice"}), std::make_pair(0, std::string("200 OK\n")));
  EXPECT_EQ(OneShot({"reg", "alice"}), std::make_pair(1, std::string("201 ALREADY REGISTERED\n")));
  EXPECT_EQ(OneShot({"reg", "bob"}).first, 0);
  EXPECT_EQ(OneShot({"add", "alice", "bob"}), std::make_pair(0, std::string("200 OK\n")));
  EXPECT_EQ(OneShot({"add", "alice", "zed"}), std::make_pair(1, std::string("202 NO SUCH USER\n")));
  EXPECT_EQ(OneShot({"set", "bob", "ONLINE", "4242"}).first, 0);
  std::string want = "bob 100 ONLINE 127.0.0.1 4242\n";
  std::pair<int, std::string> got;
  for (int i = 0; i < 20 && got.second != want; ++i) got = OneShot({"get", "alice"});
  EXPECT_EQ(got, std::make_pair(0, want));
  EXPECT_EQ(OneShot({"get", "nobody"}), std::make_pair(1, std::string("202 NO SUCH USER\n")));
  EXPECT_EQ(OneShot({"del", "alice", "bob"}), std::make_pair(0, std::string("200 OK\n")));
  EXPECT_EQ(OneShot({"del", "alice", "bob"}), std::make_pair(1, std::string("201 NOT A BUDDY\n")));
  EXPECT_EQ(OneShot({"frob"}).first, 2);
  EXPECT_EQ(OneShot({"set", "bob", "ONLINE", "notaport"}).first, 2);
  EXPECT_EQ(OneShot({"set", "bob", "AWAY", "4242"}).first, 2);  // a status SET does not know
  EXPECT_EQ(OneShot({"set", "bob", "101", "0"}), std::make_pair(0, std::string()));
  ASSERT_EQ(OneShot({"add", "alice", "bob"}).first, 0);  // the 101 SET made bob offline
  want = "bob 101 OFFLINE unknown 0\n";
  for (int i = 0; i < 20 && got.second != want; ++i) got = OneShot({"get", "alice"});
  EXPECT_EQ(got, std::make_pair(0, want));
}

// TCP to a broadcast address fails inside connect() itself (ENETUNREACH on Linux): the
// failure is reported from the loop like a refused connect, with no handle left open.
TEST_F(ClientTest, AConnectThatFailsAtOnceIsReportedLikeAnyOther) {
  std::vector<std::string> argv = {BinaryPath("IM_CLIENT"), "--server", "255.255.255.255:1", "--timeout", "3", "reg",
                                   "alice"};
  auto p = Process::Start(argv, dir_.File("sync.log"));
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(p->Wait(5000), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);  // not the timeout
  EXPECT_EQ(p->Log().rfind("im-client: cannot reach server 255.255.255.255:1: ", 0), 0u) << p->Log();
  EXPECT_EQ(p->Log().find("left open"), std::string::npos);
}

TEST_F(ClientTest, OnATerminalAsyncLinesNeverGarbleTheLineBeingTyped) {
  for (const char* l : {"REG alice", "REG bob", "ADD alice bob", "ADD bob alice"}) ASSERT_EQ(TcpRequest(server_.tcp_port, l), "200 OK");
  auto alice = Client("alice", /*pty=*/true);
  ASSERT_TRUE(alice->Saw("Welcome back, alice"));
  ASSERT_TRUE(alice->Saw("alice> "));
  alice->Type("li");  // half a command, not yet entered
  std::this_thread::sleep_for(200ms);
  auto bob = Client("bob");
  // The notice goes on a line of its own, then the prompt and the typed text come back.
  EXPECT_TRUE(alice->Saw("\r\x1b[Kbob is now ONLINE at 127.0.0.1:"));
  EXPECT_TRUE(alice->process().WaitForLog("bob is now ONLINE at 127\\.0\\.0\\.1:[0-9]+\r\nalice> li", 3000));
  alice->Type("st\r");  // finish the word: "list"
  EXPECT_TRUE(alice->Saw("Buddies:"));
  alice->Type("\x03");  // Ctrl-C quits cleanly and says OFFLINE
  EXPECT_EQ(alice->process().Wait(3000), 0);
  EXPECT_TRUE(bob->Saw("alice is now OFFLINE"));
  bob->Line("quit");
  EXPECT_EQ(bob->process().Wait(3000), 0);
}

// A person using the numbered menu on a terminal: after each answer to "Buddy to ...:"
// the menu prompt comes back, and what is typed next is read as a command again.
TEST_F(ClientTest, OnATerminalTheMenuPromptComesBackAfterEveryNumberedAnswer) {
  for (const char* l : {"REG alice", "REG bob"}) ASSERT_EQ(TcpRequest(server_.tcp_port, l), "200 OK");
  auto alice = Client("alice", /*pty=*/true);
  ASSERT_TRUE(alice->Saw("Welcome back, alice"));
  ASSERT_TRUE(alice->ShowsPrompt("alice> "));

  alice->Type("1\r");
  EXPECT_TRUE(alice->ShowsPrompt("Buddy to add: "));
  alice->Type("bob\r");
  EXPECT_TRUE(alice->Saw("bob added (200 OK)"));
  EXPECT_TRUE(alice->ShowsPrompt("alice> "));
  alice->Type("list\r");  // a command again, not the answer to a question
  EXPECT_TRUE(alice->process().WaitForLog("Buddies:|no buddies yet", 3000));

  alice->Type("4\r");
  EXPECT_TRUE(alice->ShowsPrompt("Buddy to chat with: "));
  alice->Type("bob\r");  // refused at once: bob is offline (or not yet on the fetched list)
  EXPECT_TRUE(alice->process().WaitForLog("bob is OFFLINE: cannot chat|bob is not your buddy", 3000));
  EXPECT_TRUE(alice->ShowsPrompt("alice> "));

  alice->Type("2\r");
  EXPECT_TRUE(alice->ShowsPrompt("Buddy to delete: "));
  alice->Type("bob\r");
  EXPECT_TRUE(alice->Saw("bob deleted (200 OK)"));
  EXPECT_TRUE(alice->ShowsPrompt("alice> "));

  alice->Type("1\r");
  EXPECT_TRUE(alice->ShowsPrompt("Buddy to add: "));
  alice->Type("b@d\r");
  EXPECT_TRUE(alice->Saw("\"b@d\" is not a valid user id"));
  EXPECT_TRUE(alice->ShowsPrompt("alice> "));
  alice->Type("1\r");
  EXPECT_TRUE(alice->ShowsPrompt("Buddy to add: "));
  alice->Type("\r");
  EXPECT_TRUE(alice->Saw("cancelled"));
  EXPECT_TRUE(alice->ShowsPrompt("alice> "));

  alice->Type("list\r");
  EXPECT_TRUE(alice->Saw("no buddies yet"));
  EXPECT_EQ(alice->process().CountLog("unknown command"), 0);
  alice->Type("\x03");
  EXPECT_EQ(alice->process().Wait(3000), 0);
}

}  // namespace
}  // namespace im::test
