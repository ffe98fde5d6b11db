// TLS on the account port with real binaries on loopback: im-server with a certificate
// from a test CA (tools/tls-ca, run by the fixture), im-client --tls directly and
// through im-lb, openssl s_client for resumption, raw sockets for plain text and stalls.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/support/net.h"
#include "tests/support/process.h"

namespace im::test {
namespace {

const std::vector<std::string> kServerArgs = {"--password-cost", "minimum", "--idle-timeout", "0.5"};

struct Outcome {
  int code = -1;
  std::string output;
};

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(Sh(BinaryPath("IM_TLS_CA") + " " + dir_.File("ca")).code, 0);
    ASSERT_EQ(Sh(BinaryPath("IM_TLS_CA") + " " + dir_.File("other")).code, 0);
  }
  Outcome Sh(const std::string& command) {
    std::string log = dir_.File("sh" + std::to_string(++runs_) + ".log");
    auto p = Process::Start({"/bin/sh", "-c", command}, log);
    Outcome run;
    run.code = p->Wait(20000);
    run.output = p->Log();
    return run;
  }
  std::vector<std::string> TlsArgs(const std::string& extra = "") {
    return {"--tls-cert", dir_.File("ca/server.pem"), "--tls-key", dir_.File("ca/server.key"), extra};
  }
  ServerHandle Start(const std::string& name, std::vector<std::string> extra) {
    extra.insert(extra.end(), kServerArgs.begin(), kServerArgs.end());
    std::erase(extra, std::string());
    return StartServer(dir_.File("im.db"), dir_.File(name + ".log"), extra);
  }
  Outcome Client(int port, const std::string& command, const std::string& tls = "--tls --ca-file CA") {
    std::string args = tls;
    if (auto at = args.find("CA"); at != std::string::npos) args.replace(at, 2, dir_.File("ca/ca.pem"));
    return Sh(BinaryPath("IM_CLIENT") + " --server 127.0.0.1:" + std::to_string(port) + " " + args + " " +
              command + " 2>&1");
  }
  int StartLb(const std::vector<int>& ports, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {BinaryPath("IM_LB"), "--listen", "127.0.0.1:0"};
    for (int p : ports) {
      argv.push_back("--backend");
      argv.push_back("127.0.0.1:" + std::to_string(p));
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    lb_ = Process::Start(argv, dir_.File("lb.log"));
    auto port = lb_->WaitForLog("Load Balancer running on port ([0-9]+)", 5000);
    EXPECT_TRUE(port) << lb_->Log();
    return port ? std::stoi(*port) : 0;
  }

  TempDir dir_;
  int runs_ = 0;
  std::unique_ptr<Process> lb_;
};

TEST_F(TlsTest, RegAddDelOverTlsDirectAndThroughTheBalancer) {
  ServerHandle a = Start("a", TlsArgs("--tls-only"));
  ServerHandle b = Start("b", TlsArgs("--tls-only"));
  Outcome reg = Client(a.tcp_port, "reg alice");
  EXPECT_EQ(reg.code, 0) << reg.output;
  EXPECT_EQ(reg.output, "200 OK\n");
  EXPECT_EQ(Client(a.tcp_port, "reg bob").output, "200 OK\n");
  EXPECT_EQ(Client(a.tcp_port, "add alice bob").output, "200 OK\n");
  int lb = StartLb({a.tcp_port, b.tcp_port}, {"--check-tls", "--check-ca", dir_.File("ca/ca.pem")});
  // Twice through the balancer: each backend answers once, end to end TLS both times.
  EXPECT_EQ(Client(lb, "del alice bob").output, "200 OK\n");
  EXPECT_EQ(Client(lb, "add alice bob").output, "200 OK\n");
  EXPECT_EQ(Client(lb, "reg carol").output, "200 OK\n");
  EXPECT_GE(a.process->CountLog("tcp .* -> 200 OK"), 3);
  EXPECT_GE(b.process->CountLog("tcp .* -> 200 OK"), 1);
}

TEST_F(TlsTest, BalancerProbesTlsOnlyBackendsWithTlsAndKeepsThemUp) {
  ServerHandle a = Start("a", TlsArgs("--tls-only"));
  ServerHandle b = Start("b", TlsArgs("--tls-only"));
  int lb = StartLb({a.tcp_port, b.tcp_port},
                   {"--check-interval", "0.1", "--check-tls", "--check-ca", dir_.File("ca/ca.pem")});
  // Several probe rounds: each one a handshake, a PING and its 200.
  usleep(600 * 1000);
  EXPECT_EQ(lb_->CountLog("is DOWN"), 0) << lb_->Log();
  EXPECT_EQ(Client(lb, "reg alice").output, "200 OK\n");
  EXPECT_EQ(Client(lb, "reg bob").output, "200 OK\n");
}

TEST_F(TlsTest, PlainProbesOfATlsOnlyBackendMarkItDown) {
  // What --check-tls is for: the same backends probed in plain text are refused.
  ServerHandle a = Start("a", TlsArgs("--tls-only"));
  StartLb({a.tcp_port}, {"--check-interval", "0.1"});
  EXPECT_TRUE(lb_->WaitForLog("is DOWN: (.*)", 3000)) << lb_->Log();
}

TEST_F(TlsTest, WrongCaIsRefusedWithAClearErrorAndNoPlainFallback) {
  ServerHandle a = Start("a", TlsArgs());  // plain text would be accepted here
  Outcome run = Client(a.tcp_port, "reg alice", "--tls --ca-file " + dir_.File("other/ca.pem"));
  EXPECT_NE(run.code, 0);
  EXPECT_NE(run.output.find("unknown CA"), std::string::npos) << run.output;
  EXPECT_EQ(a.process->CountLog("REG alice"), 0) << a.process->Log();
}

TEST_F(TlsTest, WrongServerNameIsRefused) {
  ServerHandle a = Start("a", TlsArgs());
  Outcome run = Client(a.tcp_port, "reg alice", "--tls --ca-file CA --server-name evil.example");
  EXPECT_NE(run.code, 0);
  EXPECT_NE(run.output.find("name mismatch"), std::string::npos) << run.output;
  // The default name is the host part of --server: 127.0.0.1 is in the certificate.
  EXPECT_EQ(Client(a.tcp_port, "reg alice").output, "200 OK\n");
}

TEST_F(TlsTest, PlainTextToATlsOnlyPortIsRefused) {
  ServerHandle a = Start("a", TlsArgs("--tls-only"));
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG alice\n"), "400 TLS REQUIRED");
  Outcome run = Client(a.tcp_port, "reg alice", "");
  EXPECT_NE(run.code, 0);
  EXPECT_EQ(a.process->CountLog("REG alice"), 0);
}

TEST_F(TlsTest, PlainTextStillWorksOnAMixedPort) {
  ServerHandle a = Start("a", TlsArgs());
  EXPECT_EQ(TcpRequest(a.tcp_port, "REG alice\n"), "200 OK");
  EXPECT_EQ(Client(a.tcp_port, "reg bob").output, "200 OK\n");
}

TEST_F(TlsTest, AStalledHandshakeIsClosedWithinTheLineTimeout) {
  ServerHandle a = Start("a", TlsArgs("--tls-only"));
  int silent = ConnectTcp(a.tcp_port);
  int half = ConnectTcp(a.tcp_port);
  ASSERT_GE(silent, 0);
  ASSERT_GE(half, 0);
  // A TLS record header announcing a 512-byte ClientHello, then nothing more.
  const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc};
  ASSERT_EQ(write(half, hello, sizeof hello), static_cast<ssize_t>(sizeof hello));
  std::string out;
  EXPECT_TRUE(ReadUntilClosed(half, &out, 3000));   // --idle-timeout 0.5
  EXPECT_TRUE(ReadUntilClosed(silent, &out, 3000));
  close(silent);
  close(half);
}

TEST_F(TlsTest, BackendsStartedTogetherShareTicketKeysSoASessionResumesOnAnother) {
  // Three servers at once on one fresh database: all must start (the shared secret is
  // retried while another one holds the lock) and issue tickets with the same keys.
  std::vector<std::unique_ptr<Process>> servers;
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> argv = {BinaryPath("IM_SERVER"), "--db", dir_.File("fresh.db"), "--host", "127.0.0.1",
                                     "--tcp-port", "0", "--udp-port", "0"};
    for (const std::string& arg : TlsArgs()) if (!arg.empty()) argv.push_back(arg);
    argv.insert(argv.end(), kServerArgs.begin(), kServerArgs.end());
    servers.push_back(Process::Start(argv, dir_.File("s" + std::to_string(i) + ".log")));
  }
  std::vector<int> ports;
  for (auto& server : servers) {
    auto port = server->WaitForLog("listening tcp 127.0.0.1:([0-9]+)", 10000);
    ASSERT_TRUE(port) << server->Log();
    ports.push_back(std::stoi(*port));
  }
  for (auto& server : servers) {
    EXPECT_EQ(server->CountLog("cannot load the shared secret"), 0) << server->Log();
  }
  std::string session = dir_.File("session.pem");
  auto s_client = [&](int port, const std::string& sess) {
    return Sh("printf 'PING\\n' | openssl s_client -ign_eof -connect 127.0.0.1:" + std::to_string(port) + " -CAfile " +
              dir_.File("ca/ca.pem") + " " + sess + " 2>&1");
  };
  Outcome first = s_client(ports[0], "-sess_out " + session);
  ASSERT_NE(first.output.find("200 OK"), std::string::npos) << first.output;
  ASSERT_NE(first.output.find("New, TLS"), std::string::npos) << first.output;
  for (int i = 1; i < 3; ++i) {
    Outcome again = s_client(ports[i], "-sess_in " + session);
    EXPECT_NE(again.output.find("Reused, TLS"), std::string::npos) << again.output;
    EXPECT_NE(again.output.find("200 OK"), std::string::npos) << again.output;
  }
}

TEST_F(TlsTest, AResumedConnectionGetsAFreshTicketSoResumptionChains) {
  // A TLS 1.3 client uses a ticket once: the session it keeps from a resumed connection
  // must carry a new ticket, or every other connection is a full handshake.
  ServerHandle a = Start("a", TlsArgs());
  std::string base = "printf 'PING\\n' | openssl s_client -ign_eof -connect 127.0.0.1:" + std::to_string(a.tcp_port) +
                     " -CAfile " + dir_.File("ca/ca.pem");
  Outcome first = Sh(base + " -sess_out " + dir_.File("s0.pem") + " 2>&1");
  ASSERT_NE(first.output.find("New, TLS"), std::string::npos) << first.output;
  for (int i = 1; i <= 3; ++i) {
    std::string in = dir_.File("s" + std::to_string(i - 1) + ".pem"), out = dir_.File("s" + std::to_string(i) + ".pem");
    Outcome next = Sh(base + " -sess_in " + in + " -sess_out " + out + " 2>&1");
    EXPECT_NE(next.output.find("Reused, TLSv1.3"), std::string::npos) << "connection " << i << ": " << next.output;
    EXPECT_NE(next.output.find("200 OK"), std::string::npos) << next.output;
  }
}

TEST_F(TlsTest, NoResumptionMeansAFullHandshakeEachTime) {
  ServerHandle a = Start("a", TlsArgs("--no-tls-resumption"));
  std::string session = dir_.File("session.pem");
  std::string base = "printf 'PING\\n' | openssl s_client -ign_eof -connect 127.0.0.1:" + std::to_string(a.tcp_port) +
                     " -CAfile " + dir_.File("ca/ca.pem");
  Outcome first = Sh(base + " -sess_out " + session + " 2>&1");
  EXPECT_NE(first.output.find("200 OK"), std::string::npos) << first.output;
  // No ticket came, so s_client had no session to save (or saved one nobody accepts).
  if (access(session.c_str(), F_OK) == 0) {
    Outcome again = Sh(base + " -sess_in " + session + " 2>&1");
    EXPECT_NE(again.output.find("New, TLS"), std::string::npos) << again.output;
  }
}

}  // namespace
}  // namespace im::test
