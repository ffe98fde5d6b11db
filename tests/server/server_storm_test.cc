// Two im-server backends sharing one real PostgreSQL (presence in a real Redis), one of
// them killed with SIGKILL in the middle of a storm of REG and ADD writes spread over both:
// every write answered 200 is in PostgreSQL, no write answered with an error (4xx, 500)
// is, and the surviving backend serves during the storm and after it. A write that got no
// reply (its backend died under it) may or may not have been applied: either is right.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/net.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/redis.h"

namespace im::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Bounds: the storm stops at whichever comes first.
constexpr int kWorkers = 6;
constexpr int kIdsPerWorker = 2000;
constexpr auto kStormBeforeKill = 1500ms;
constexpr auto kMaxStormBeforeKill = 6s;
constexpr auto kStormAfterKill = 1500ms;
constexpr int kRequestTimeoutMs = 3000;

// One request of the storm and what came back ("" for none: refused, reset or timed out).
struct Outcome {
  bool reg = true;  // REG <id>, else ADD <id> hub
  std::string id;
  int backend = 0;  // 0: the one killed, 1: the survivor
  std::string reply;
  Clock::time_point at;
};

std::set<std::string> Lines(const std::string& text) {
  std::set<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.insert(line);
  }
  return lines;
}

bool IsError(const std::string& reply) { return !reply.empty() && (reply[0] == '4' || reply[0] == '5'); }

class ServerStormTest : public ::testing::Test {
 protected:
  void SetUp() override {
    redis_ = Redis::Start();
    ASSERT_TRUE(redis_) << "redis-server must start for this test";
    pg_ = Postgres::Start();
    ASSERT_TRUE(pg_) << "PostgreSQL must start for this test";
  }
  ServerHandle StartBackend(const std::string& name) {
    ServerHandle s = StartServer("", dir_.File(name + ".log"),
                                 {"--store", pg_->Url("postgres"), "--presence", redis_->Url()});
    EXPECT_GT(s.tcp_port, 0) << pg_->Log();
    return s;
  }

  TempDir dir_;
  std::unique_ptr<Redis> redis_;
  std::unique_ptr<Postgres> pg_;
};

TEST_F(ServerStormTest, Kill9OfOneBackendMidStormLosesNoAcknowledgedWriteAndAppliesNoFailedOne) {
  ServerHandle backends[2] = {StartBackend("a"), StartBackend("b")};
  for (ServerHandle& s : backends) {
    ASSERT_GT(s.tcp_port, 0);
    ASSERT_TRUE(s.process->WaitForLog("redis: connected", 5000)) << s.process->Log();
  }
  ServerHandle& doomed = backends[0];
  ServerHandle& survivor = backends[1];
  ASSERT_EQ(TcpRequest(survivor.tcp_port, "REG hub"), "200 OK");

  std::mutex mu;
  std::vector<Outcome> outcomes;
  std::atomic<int> acked_on_doomed{0};
  std::atomic<bool> stop{false};
  // Each id is registered on one backend and added (ADD id hub) on the other, alternating,
  // so both backends write all the time and half the ADDs depend on a REG made elsewhere.
  // A worker that got no reply from the doomed backend fails over to the survivor for the
  // rest of the storm, as a client behind im-lb would.
  auto worker = [&](int w) {
    bool failed_over = false;
    for (int i = 0; i < kIdsPerWorker && !stop; ++i) {
      std::string id = "s" + std::to_string(w) + "_" + std::to_string(i);
      int reg_on = (w + i) % 2;
      for (bool reg : {true, false}) {
        int backend = failed_over ? 1 : reg ? reg_on : 1 - reg_on;
        std::string line = reg ? "REG " + id : "ADD " + id + " hub";
        std::string reply = TcpRequest(backends[backend].tcp_port, line, kRequestTimeoutMs);
        if (backend == 0 && reply == "200 OK") ++acked_on_doomed;
        if (backend == 0 && reply.empty()) failed_over = true;
        std::lock_guard<std::mutex> lock(mu);
        outcomes.push_back({reg, id, backend, reply, Clock::now()});
      }
    }
  };
  std::vector<std::thread> workers;
  auto storm_start = Clock::now();
  for (int w = 0; w < kWorkers; ++w) workers.emplace_back(worker, w);

  // Kill in full swing: after kStormBeforeKill, once the doomed backend has acknowledged
  // writes (bounded in time on a slow machine).
  std::this_thread::sleep_for(kStormBeforeKill);
  while (acked_on_doomed < 100 && Clock::now() - storm_start < kMaxStormBeforeKill) std::this_thread::sleep_for(10ms);
  doomed.process->Signal(SIGKILL);
  auto killed_at = Clock::now();
  std::this_thread::sleep_for(kStormAfterKill);
  stop = true;
  for (auto& t : workers) t.join();
  ASSERT_EQ(doomed.process->Wait(5000), 128 + SIGKILL);
  ASSERT_TRUE(survivor.process->Running()) << survivor.process->Log();

  // What PostgreSQL holds (the storm's ids all start with "s").
  std::string users_text, buddies_text;
  ASSERT_TRUE(pg_->Psql("postgres", "SELECT id FROM users WHERE id LIKE 's%'", &users_text)) << pg_->Log();
  ASSERT_TRUE(pg_->Psql("postgres", "SELECT owner FROM buddies WHERE buddy = 'hub'", &buddies_text)) << pg_->Log();
  std::set<std::string> users = Lines(users_text), buddies = Lines(buddies_text);

  std::map<std::string, int> replies;  // reply -> count, for the failure message and the log
  int acked = 0, acked_doomed = 0, survivor_after_kill = 0, errors = 0, unanswered = 0, unanswered_applied = 0;
  for (const Outcome& o : outcomes) {
    ++replies[o.reply.empty() ? "(no reply)" : o.reply];
    bool stored = (o.reg ? users : buddies).count(o.id) > 0;
    std::string line = o.reg ? "REG " + o.id : "ADD " + o.id + " hub";
    if (o.reply == "200 OK") {
      ++acked;
      acked_doomed += o.backend == 0;
      survivor_after_kill += o.backend == 1 && o.at > killed_at;
      EXPECT_TRUE(stored) << line << " on backend " << o.backend << " was acknowledged but is not in PostgreSQL";
    } else if (IsError(o.reply)) {
      ++errors;
      EXPECT_FALSE(stored) << line << " on backend " << o.backend << " got \"" << o.reply << "\" but was applied";
    } else if (o.reply.empty()) {
      ++unanswered;  // applied or not: both are right (counted, for the log)
      unanswered_applied += stored;
    } else {
      // 202 NO SUCH USER: an ADD whose REG failed, or died unapplied with its backend.
      EXPECT_TRUE(!o.reg && o.reply == "202 NO SUCH USER") << line << ": unexpected \"" << o.reply << "\"";
      EXPECT_FALSE(stored) << line << " got \"" << o.reply << "\" but was applied";
    }
  }
  std::ostringstream summary;
  summary << outcomes.size() << " requests: " << acked << " acknowledged (" << acked_doomed
          << " by the killed backend, " << survivor_after_kill << " by the survivor after the kill), " << errors
          << " errors, " << unanswered << " unanswered (" << unanswered_applied << " of them applied); killed after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(killed_at - storm_start).count() << " ms;";
  for (const auto& [reply, n] : replies) summary << " [" << reply << "] " << n;
  std::cout << summary.str() << std::endl;
  RecordProperty("summary", summary.str());
  EXPECT_GE(acked_doomed, 50) << "the storm never got going on the killed backend: " << summary.str();
  EXPECT_GE(survivor_after_kill, 50) << "the survivor stopped serving during the storm: " << summary.str() << "\n"
                                     << survivor.process->Log();

  // The survivor still serves every verb after the storm, presence included, and never
  // lost its own connections to the engines.
  EXPECT_EQ(TcpRequest(survivor.tcp_port, "REG after.storm"), "200 OK");
  EXPECT_EQ(TcpRequest(survivor.tcp_port, "ADD after.storm hub"), "200 OK");
  UdpClient hub;
  hub.Send(survivor.udp_port, "SET hub ONLINE 4242");
  UdpClient reader;
  std::string status;
  for (int i = 0; i < 100 && status.find("ONLINE") == std::string::npos; ++i) {
    status = reader.Ask(survivor.udp_port, "GET after.storm", 500).value_or("");
    if (status.find("ONLINE") == std::string::npos) std::this_thread::sleep_for(20ms);
  }
  EXPECT_NE(status.find("ONLINE 127.0.0.1 4242"), std::string::npos) << status;
  EXPECT_EQ(survivor.process->CountLog("reconnecting"), 0) << survivor.process->Log();
  // And it still shuts down cleanly (under the sanitizers this also runs the leak check).
  survivor.process->Signal(SIGTERM);
  EXPECT_EQ(survivor.process->Wait(10000), 0) << survivor.process->Log();
  EXPECT_EQ(survivor.process->CountLog("exited cleanly"), 1) << survivor.process->Log();
}

}  // namespace
}  // namespace im::test
