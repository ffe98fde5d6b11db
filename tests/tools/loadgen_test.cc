// A short run of every im-loadgen scenario against a real im-server (and the floor
// server): checks counts and that replies were validated, never speed.
#include <gtest/gtest.h>

#include <regex>

#include "tests/support/process.h"

namespace im::test {
namespace {

struct LoadRun {
  int exit_code;
  std::string out;
  long Field(const std::string& name) const {
    std::smatch m;
    if (!std::regex_search(out, m, std::regex("\"" + name + "\":([0-9.]+)"))) return -1;
    return static_cast<long>(std::stod(m[1]));
  }
};

class LoadgenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer(dir_.File("im.db"), dir_.File("server.log"), {"--quiet", "--sync", "normal"});
    ASSERT_GT(server_.tcp_port, 0);
  }
  LoadRun Load(std::vector<std::string> args, int tcp_port = 0) {
    std::vector<std::string> argv = {BinaryPath("IM_LOADGEN"), "--json", "--tcp",
                                     "127.0.0.1:" + std::to_string(tcp_port ? tcp_port : server_.tcp_port), "--udp",
                                     "127.0.0.1:" + std::to_string(server_.udp_port)};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string log = dir_.File("loadgen" + std::to_string(runs_++) + ".log");
    auto p = Process::Start(argv, log);
    int rc = p->Wait(30000);
    return {rc, p->Log()};
  }
  TempDir dir_;
  ServerHandle server_;
  int runs_ = 0;
};

TEST_F(LoadgenTest, RegCountsExactlyTheRequestsAskedFor) {
  LoadRun r = Load({"--scenario", "reg", "--requests", "500", "-c", "8"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.Field("ok"), 500) << r.out;
  EXPECT_EQ(r.Field("failed"), 0) << r.out;
  // Every one really registered: the server agrees.
  EXPECT_EQ(server_.process->CountLog("ERROR"), 0);
}

TEST_F(LoadgenTest, AddUdpGetUdpSetAndMixedRunCleanly) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"--scenario", "add", "--duration", "0.5", "-c", "4", "--users", "20"},
        {"--scenario", "udp-get", "--duration", "0.5", "-c", "4", "--users", "30", "--buddies", "10"},
        {"--scenario", "udp-set", "--requests", "2000", "-c", "4", "--users", "30"},
        {"--scenario", "mixed", "--duration", "1", "-c", "10", "--buddies", "3", "--interval", "0.2"}}) {
    LoadRun r = Load(args);
    EXPECT_EQ(r.exit_code, 0) << args[1] << ": " << r.out;
    EXPECT_GT(r.Field("ok"), 10) << args[1] << ": " << r.out;
    EXPECT_EQ(r.Field("failed"), 0) << args[1] << ": " << r.out;
    EXPECT_EQ(r.Field("seed_failures"), 0) << args[1] << ": " << r.out;
  }
}

TEST_F(LoadgenTest, OpenLoopOffersTheRateAndRawValidatesReplies) {
  auto floor = Process::Start({BinaryPath("IM_FLOOR"), "0", "0"}, dir_.File("floor.log"));
  auto port = floor->WaitForLog("listening tcp [^ \\n]*:([0-9]+)", 5000);
  ASSERT_TRUE(port);
  LoadRun good = Load({"--scenario", "raw", "--line", "PING", "--expect", "200 OK", "--rate", "500", "--duration", "1"},
                  std::stoi(*port));
  EXPECT_EQ(good.exit_code, 0) << good.out;
  EXPECT_NEAR(good.Field("ok"), 500, 60) << good.out;  // what was offered, all validated
  EXPECT_EQ(good.Field("failed"), 0) << good.out;
  // A reply that does not match is an error with a sample, not a success.
  LoadRun bad = Load({"--scenario", "raw", "--line", "PING", "--expect", "+OK", "--requests", "50"}, std::stoi(*port));
  EXPECT_EQ(bad.Field("ok"), 0) << bad.out;
  EXPECT_EQ(bad.Field("failed"), 50) << bad.out;
  EXPECT_NE(bad.out.find("\"unexpected reply\":50"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("\"200 OK (expected +OK)\""), std::string::npos) << bad.out;
}

TEST_F(LoadgenTest, ErrorsByKindWhenNothingListens) {
  server_.process->Signal(9);
  server_.process->Wait(3000);
  LoadRun r = Load({"--scenario", "reg", "--requests", "20", "-c", "2"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.Field("failed"), 20) << r.out;
  EXPECT_NE(r.out.find("connect: ECONNREFUSED"), std::string::npos) << r.out;
}

TEST_F(LoadgenTest, ProcsSplitTheLoadAndMergeTheResults) {
  LoadRun r = Load({"--scenario", "reg", "--requests", "400", "-c", "8", "--procs", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.Field("ok"), 400) << r.out;
}

}  // namespace
}  // namespace im::test
