// im-server's TCP account protocol, row by row, and its defences against bad clients.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "tests/server/server_fixture.h"

namespace im::test {
namespace {

using Clock = std::chrono::steady_clock;

TEST_F(ServerTest, RegRepliesOkThenAlreadyRegistered) {
  Start();
  EXPECT_EQ(Request("REG alice"), "200 OK");
  EXPECT_EQ(Request("REG alice"), "201 ALREADY REGISTERED");
  EXPECT_EQ(Request("reg Alice"), "200 OK");  // verb any case; ids case-sensitive
  EXPECT_EQ(Request("REG bad!id"), "202 INVALID USERID");
  EXPECT_EQ(Request("REG " + std::string(33, 'x')), "202 INVALID USERID");
  EXPECT_EQ(Request("REG " + std::string(32, 'x')), "200 OK");
}

TEST_F(ServerTest, RegClosesAtMaxUsers) {
  Start({"--max-users", "2"});
  EXPECT_EQ(Request("REG a"), "200 OK");
  EXPECT_EQ(Request("REG b"), "200 OK");
  EXPECT_EQ(Request("REG c"), "203 REGISTRATION CLOSED");
  EXPECT_EQ(Request("REG a"), "201 ALREADY REGISTERED");
}

TEST_F(ServerTest, AddAndDelEveryReply) {
  Start();
  EXPECT_EQ(Request("REG alice"), "200 OK");
  EXPECT_EQ(Request("ADD alice bob"), "202 NO SUCH USER");
  EXPECT_EQ(Request("ADD ghost alice"), "202 NO SUCH USER");
  EXPECT_EQ(Request("ADD alice alice"), "202 NO SUCH USER");
  EXPECT_EQ(Request("ADD alice b@d"), "202 NO SUCH USER");
  EXPECT_EQ(Request("REG bob"), "200 OK");
  EXPECT_EQ(Request("ADD alice bob"), "200 OK");
  EXPECT_EQ(Request("add alice bob"), "201 ALREADY BUDDY");
  EXPECT_EQ(Request("DEL bob alice"), "201 NOT A BUDDY");  // lists are one-way
  EXPECT_EQ(Request("DEL alice bob"), "200 OK");
  EXPECT_EQ(Request("DEL alice bob"), "201 NOT A BUDDY");
  EXPECT_EQ(Request("DEL ghost bob"), "202 NO SUCH USER");
}

TEST_F(ServerTest, DelOfAnIdNeverRegisteredIsNoSuchUserLikeAdd) {
  Start();
  EXPECT_EQ(Request("REG alice"), "200 OK");
  EXPECT_EQ(Request("ADD alice nobody"), "202 NO SUCH USER");
  EXPECT_EQ(Request("DEL alice nobody"), "202 NO SUCH USER");  // was 201 NOT A BUDDY
  EXPECT_EQ(Request("REG bob"), "200 OK");
  EXPECT_EQ(Request("DEL alice bob"), "201 NOT A BUDDY");       // registered, not on the list
}

TEST_F(ServerTest, MalformedRequestsGetBadRequest) {
  Start();
  for (std::string line : {"", "HELLO", "REG", "REG a pass word", "ADD a", "ADD a b c d", "DEL a",
                           "GET alice", "SET alice ONLINE 1", "REG\talice"}) {
    EXPECT_EQ(Request(line), "400 BAD REQUEST") << "line: " << line;
  }
  EXPECT_EQ(Request(std::string("REG al\0ce", 9)), "400 BAD REQUEST");
  EXPECT_EQ(Request("REG \x1b[31malice"), "400 BAD REQUEST");
  // 257 bytes is one too many; 256 is a legal line (with an illegal id).
  EXPECT_EQ(Request("REG " + std::string(253, 'a')), "400 BAD REQUEST");
  EXPECT_EQ(Request("REG " + std::string(252, 'a')), "202 INVALID USERID");
  // The server keeps serving after all that.
  EXPECT_EQ(Request("REG survivor"), "200 OK");
}

TEST_F(ServerTest, LineEndings) {
  Start();
  EXPECT_EQ(TcpExchange(server_.tcp_port, "REG crlf\r\n"), "200 OK\n");
  // No newline, then the client's half-close: still one request.
  EXPECT_EQ(TcpExchange(server_.tcp_port, "REG nonewline"), "200 OK\n");
  // Only the first line counts.
  EXPECT_EQ(TcpExchange(server_.tcp_port, "REG first\nREG second\n"), "200 OK\n");
  EXPECT_EQ(Request("REG second"), "200 OK");
}

TEST_F(ServerTest, HugeGarbageIsRejectedWithoutBuffering) {
  Start();
  std::string garbage(1 << 20, '\xff');  // 1 MiB, no newline
  std::string reply = TcpExchange(server_.tcp_port, garbage);
  EXPECT_EQ(reply, "400 BAD REQUEST\n");
  EXPECT_EQ(Request("REG still.here"), "200 OK");
}

TEST_F(ServerTest, ARequestWhoseSenderResetItIsNotApplied) {
  // What a balancer does to a backend that left a request unanswered: it resets the
  // connection and retries elsewhere. Here the server had accepted the connection, then
  // stopped before reading; the reset arrives while it is stopped.
  Start();
  int fd = ConnectTcp(server_.tcp_port);
  ASSERT_GE(fd, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // accepted by now
  ASSERT_EQ(kill(server_.process->pid(), SIGSTOP), 0);
  ASSERT_EQ(send(fd, "REG retried\n", 12, 0), 12);
  linger reset{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  close(fd);  // RST
  ASSERT_EQ(kill(server_.process->pid(), SIGCONT), 0);
  EXPECT_TRUE(server_.process->WaitForLog("reset before its request was read", 2000)) << server_.process->Log();
  EXPECT_EQ(Request("REG retried"), "200 OK") << "the abandoned copy was not applied";
}

TEST_F(ServerTest, SilentClientIsClosedAfterIdleTimeout) {
  Start({"--idle-timeout", "0.3"});
  int fd = ConnectTcp(server_.tcp_port);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, "REG slo", 7, 0), 7);  // a partial line does not reset the clock
  auto start = Clock::now();
  std::string got;
  EXPECT_TRUE(ReadUntilClosed(fd, &got, 3000));
  auto waited = Clock::now() - start;
  close(fd);
  EXPECT_EQ(got, "");  // closed without a reply
  EXPECT_GE(waited, std::chrono::milliseconds(200));
  EXPECT_LT(waited, std::chrono::milliseconds(2000));
}

TEST_F(ServerTest, AFullServerShedsTheOldestSilentConnection) {
  // An attacker's 40 silent connections, from another address, and a long idle timeout:
  // only shedding can make room.
  Start({"--max-conns", "20", "--idle-timeout", "30"});
  std::vector<int> idle;
  for (int i = 0; i < 40; ++i) {
    int fd = ConnectTcp(server_.tcp_port, "127.0.0.1", "127.0.0.2");
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  auto start = Clock::now();
  EXPECT_EQ(TcpRequest(server_.tcp_port, "REG patient", 5000), "200 OK");
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  int closed = 0;
  for (int fd : idle) {
    std::string got;
    if (ReadUntilClosed(fd, &got, 50)) ++closed;
    close(fd);
  }
  EXPECT_GE(closed, 1) << "the oldest silent ones were closed to make room";
}

TEST_F(ServerTest, OneAddressHoldsAtMostItsShareOfSlots) {
  Start({"--max-conns-per-ip", "10", "--idle-timeout", "30"});
  std::vector<int> idle;
  for (int i = 0; i < 10; ++i) {
    int fd = ConnectTcp(server_.tcp_port, "127.0.0.1", "127.0.0.2");
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  std::string refused;
  int extra = ConnectTcp(server_.tcp_port, "127.0.0.1", "127.0.0.2");
  ASSERT_GE(extra, 0);
  EXPECT_TRUE(ReadUntilClosed(extra, &refused, 2000));
  close(extra);
  EXPECT_EQ(refused, "429 TRY LATER\n");
  EXPECT_EQ(TcpRequest(server_.tcp_port, "REG neighbour"), "200 OK") << "other addresses are not affected";
  for (int fd : idle) close(fd);
}

TEST_F(ServerTest, FortyAtOnceFromOneAddressAreAllServedByDefault) {
  Start();
  std::vector<int> fds;
  for (int i = 0; i < 40; ++i) {
    int fd = ConnectTcp(server_.tcp_port);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  for (size_t i = 0; i < fds.size(); ++i) {
    std::string line = "REG user" + std::to_string(i) + "\n";
    ASSERT_EQ(send(fds[i], line.data(), line.size(), 0), static_cast<ssize_t>(line.size()));
  }
  int ok = 0;
  for (int fd : fds) {
    std::string reply;
    ReadUntilClosed(fd, &reply, 5000);
    ok += reply == "200 OK\n";
    close(fd);
  }
  EXPECT_EQ(ok, 40);
}

TEST_F(ServerTest, ManyConcurrentClientsAllAnswered) {
  Start({"--trusted", "127.0.0.1"});  // as from a balancer: no per-address cap
  constexpr int kClients = 300;
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    int fd = ConnectTcp(server_.tcp_port);
    ASSERT_GE(fd, 0);
    std::string line = "REG user" + std::to_string(i) + "\n";
    ASSERT_EQ(send(fd, line.data(), line.size(), 0), static_cast<ssize_t>(line.size()));
    fds.push_back(fd);
  }
  int ok = 0;
  for (int fd : fds) {
    std::string reply;
    ReadUntilClosed(fd, &reply, 5000);
    ok += reply == "200 OK\n";
    close(fd);
  }
  EXPECT_EQ(ok, kClients);
}

TEST_F(ServerTest, PositionalFormCreatesTheDataDirectory) {
  std::string data = dir_.File("data1");
  auto p = Process::Start({BinaryPath("IM_SERVER"), "0", "0", data}, log());
  ASSERT_TRUE(p);
  auto port = p->WaitForLog("listening tcp [^ \\n]*:([0-9]+)", 5000);
  ASSERT_TRUE(port);
  EXPECT_EQ(TcpRequest(std::stoi(*port), "REG alice"), "200 OK");
  EXPECT_EQ(access((data + "/im.db").c_str(), F_OK), 0);
}

TEST_F(ServerTest, UsageErrorsExitNonZeroWithAMessage) {
  auto help = Process::Start({BinaryPath("IM_SERVER"), "--help"}, dir_.File("help.log"));
  EXPECT_EQ(help->Wait(5000), 0);
  EXPECT_NE(help->Log().find("--presence-ttl"), std::string::npos);
  auto bad = Process::Start({BinaryPath("IM_SERVER"), "--sync", "sometimes"}, dir_.File("bad.log"));
  EXPECT_EQ(bad->Wait(5000), 2);
  EXPECT_NE(bad->Log().find("--sync must be full or normal"), std::string::npos);
  auto port = Process::Start({BinaryPath("IM_SERVER"), "99999", "0", dir_.path()}, dir_.File("p.log"));
  EXPECT_EQ(port->Wait(5000), 2);
}

TEST_F(ServerTest, PortInUseIsAStartupError) {
  Start();
  auto second = Process::Start({BinaryPath("IM_SERVER"), "--tcp-port",
                                std::to_string(server_.tcp_port), "--udp-port", "0", "--db",
                                dir_.File("other.db")},
                               dir_.File("second.log"));
  EXPECT_EQ(second->Wait(5000), 1);
  EXPECT_NE(second->Log().find("address already in use"), std::string::npos) << second->Log();
}

}  // namespace
}  // namespace im::test
