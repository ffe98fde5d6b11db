// Two im-server backends sharing one real PostgreSQL (presence in a real Redis), one of
// them killed with SIGKILL in the middle of a storm of REG and ADD writes spread over both:
// every write answered 200 is in PostgreSQL, no write answered with an error (4xx, 500)
// is, and the surviving backend serves during the storm and after it. A write that got no
// reply (its backend died under it) may or may not have been applied: either is right.
// Twice: a plain storm, and one where a lock held elsewhere makes writes answer 500 and
// the doomed backend is killed after answering 500 while its abandoned batch may still
// wait for that lock inside PostgreSQL (it must roll back, not commit once the lock goes).
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
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
constexpr int kRequestTimeoutMs = 3000;

// One request of the storm and what came back ("" for none: refused, reset or timed out).
struct Outcome {
  bool reg = true;  // REG <id>, else ADD <id> hub
  std::string id;
  int backend = 0;  // 0: the one killed, 1: the survivor
  std::string reply;
  Clock::time_point at;
};

// What Verify found, for the checks of each test and the log.
struct Tally {
  int acked = 0, acked_doomed = 0, survivor_after_kill = 0, errors = 0, errors_doomed = 0, unanswered = 0,
      unanswered_applied = 0;
  std::string summary;
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

  // Both backends up on PostgreSQL + Redis, and the hub every storm id adds.
  void StartBackends(const std::vector<std::string>& extra = {}) {
    for (int i = 0; i < 2; ++i) {
      std::vector<std::string> args = {"--store", pg_->Url("postgres"), "--presence", redis_->Url()};
      args.insert(args.end(), extra.begin(), extra.end());
      backends_[i] = StartServer("", dir_.File(i == 0 ? "doomed.log" : "survivor.log"), args);
      ASSERT_GT(backends_[i].tcp_port, 0) << pg_->Log();
      ASSERT_TRUE(backends_[i].process->WaitForLog("redis: connected", 5000)) << backends_[i].process->Log();
    }
    ASSERT_EQ(TcpRequest(survivor().tcp_port, "REG hub"), "200 OK");
  }
  ServerHandle& doomed() { return backends_[0]; }
  ServerHandle& survivor() { return backends_[1]; }

  // Each id is registered on one backend and added (ADD id hub) on the other, alternating,
  // so both backends write all the time and half the ADDs depend on a REG made elsewhere.
  // A worker that got no reply from the doomed backend fails over to the survivor for the
  // rest of the storm, as a client behind im-lb would. `until_kill` runs while the storm
  // blows and returns when the kill is due; the storm goes on for `after_kill`.
  void RunStorm(const std::function<void()>& until_kill, std::chrono::milliseconds after_kill) {
    std::atomic<bool> stop{false};
    auto worker = [&](int w) {
      bool failed_over = false;
      for (int i = 0; i < kIdsPerWorker && !stop; ++i) {
        std::string id = "s" + std::to_string(w) + "_" + std::to_string(i);
        int reg_on = (w + i) % 2;
        for (bool reg : {true, false}) {
          int backend = failed_over ? 1 : reg ? reg_on : 1 - reg_on;
          std::string line = reg ? "REG " + id : "ADD " + id + " hub";
          std::string reply = TcpRequest(backends_[backend].tcp_port, line, kRequestTimeoutMs);
          if (backend == 0 && reply == "200 OK") ++acked_on_doomed_;
          if (backend == 0 && reply.empty()) failed_over = true;
          if (backend == 0 && IsError(reply)) ++errors_on_doomed_;
          std::lock_guard<std::mutex> lock(mu_);
          outcomes_.push_back({reg, id, backend, reply, Clock::now()});
        }
      }
    };
    std::vector<std::thread> workers;
    storm_start_ = Clock::now();
    for (int w = 0; w < kWorkers; ++w) workers.emplace_back(worker, w);
    until_kill();
    doomed().process->Signal(SIGKILL);
    killed_at_ = Clock::now();
    std::this_thread::sleep_for(after_kill);
    stop = true;
    for (auto& t : workers) t.join();
  }

  // Every outcome against what PostgreSQL holds.
  Tally Verify() {
    Tally t;
    std::string users_text, buddies_text;
    // The storm's ids all start with "s".
    EXPECT_TRUE(pg_->Psql("postgres", "SELECT id FROM users WHERE id LIKE 's%'", &users_text)) << pg_->Log();
    EXPECT_TRUE(pg_->Psql("postgres", "SELECT owner FROM buddies WHERE buddy = 'hub'", &buddies_text)) << pg_->Log();
    std::set<std::string> users = Lines(users_text), buddies = Lines(buddies_text);
    std::map<std::string, int> replies;  // reply -> count
    for (const Outcome& o : outcomes_) {
      ++replies[o.reply.empty() ? "(no reply)" : o.reply];
      bool stored = (o.reg ? users : buddies).count(o.id) > 0;
      std::string line = (o.reg ? "REG " + o.id : "ADD " + o.id + " hub") + " on backend " + std::to_string(o.backend);
      if (o.reply == "200 OK") {
        ++t.acked;
        t.acked_doomed += o.backend == 0;
        t.survivor_after_kill += o.backend == 1 && o.at > killed_at_;
        EXPECT_TRUE(stored) << line << " was acknowledged but is not in PostgreSQL";
      } else if (IsError(o.reply)) {
        ++t.errors;
        t.errors_doomed += o.backend == 0;
        EXPECT_FALSE(stored) << line << " got \"" << o.reply << "\" but was applied";
      } else if (o.reply.empty()) {
        ++t.unanswered;  // applied or not: both are right (counted, for the log)
        t.unanswered_applied += stored;
      } else {
        // 202 NO SUCH USER: an ADD whose REG failed, or died unapplied with its backend.
        EXPECT_TRUE(!o.reg && o.reply == "202 NO SUCH USER") << line << ": unexpected \"" << o.reply << "\"";
        EXPECT_FALSE(stored) << line << " got \"" << o.reply << "\" but was applied";
      }
    }
    std::ostringstream s;
    s << outcomes_.size() << " requests: " << t.acked << " acknowledged (" << t.acked_doomed
      << " by the killed backend, " << t.survivor_after_kill << " by the survivor after the kill), " << t.errors
      << " errors (" << t.errors_doomed << " by the killed backend), " << t.unanswered << " unanswered (" << t.unanswered_applied << " of them applied); killed after "
      << std::chrono::duration_cast<std::chrono::milliseconds>(killed_at_ - storm_start_).count() << " ms;";
    for (const auto& [reply, n] : replies) s << " [" << reply << "] " << n;
    t.summary = s.str();
    std::cout << t.summary << std::endl;
    RecordProperty("summary", t.summary);
    return t;
  }

  // The survivor still serves every verb after the storm, presence included, and shuts
  // down cleanly (under the sanitizers this also runs the leak check).
  void ExpectSurvivorServesAndStopsCleanly() {
    ServerHandle& s = survivor();
    ASSERT_TRUE(s.process->Running()) << s.process->Log();
    EXPECT_EQ(TcpRequest(s.tcp_port, "REG after.storm"), "200 OK");
    EXPECT_EQ(TcpRequest(s.tcp_port, "ADD after.storm hub"), "200 OK");
    UdpClient hub;
    hub.Send(s.udp_port, "SET hub ONLINE 4242");
    UdpClient reader;
    std::string status;
    for (int i = 0; i < 100 && status.find("ONLINE") == std::string::npos; ++i) {
      status = reader.Ask(s.udp_port, "GET after.storm", 500).value_or("");
      if (status.find("ONLINE") == std::string::npos) std::this_thread::sleep_for(20ms);
    }
    EXPECT_NE(status.find("ONLINE 127.0.0.1 4242"), std::string::npos) << status;
    s.process->Signal(SIGTERM);
    EXPECT_EQ(s.process->Wait(10000), 0) << s.process->Log();
    EXPECT_EQ(s.process->CountLog("exited cleanly"), 1) << s.process->Log();
  }

  // Waits (bounded) for `sql` on the database to print `want`.
  bool WaitForSql(const std::string& sql, const std::string& want, int timeout_ms) {
    auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    std::string out;
    while (Clock::now() < until) {
      if (pg_->Psql("postgres", sql, &out) && out == want) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  TempDir dir_;
  std::unique_ptr<Redis> redis_;
  std::unique_ptr<Postgres> pg_;
  ServerHandle backends_[2];
  std::mutex mu_;
  std::vector<Outcome> outcomes_;
  std::atomic<int> acked_on_doomed_{0}, errors_on_doomed_{0};
  Clock::time_point storm_start_, killed_at_;
};

TEST_F(ServerStormTest, Kill9OfOneBackendMidStormLosesNoAcknowledgedWriteAndAppliesNoFailedOne) {
  ASSERT_NO_FATAL_FAILURE(StartBackends());
  RunStorm(
      [&] {
        // In full swing: after 1.5 s, once the doomed backend has acknowledged writes
        // (bounded in time on a slow machine).
        std::this_thread::sleep_for(1500ms);
        while (acked_on_doomed_ < 100 && Clock::now() - storm_start_ < 6s) std::this_thread::sleep_for(10ms);
      },
      1500ms);
  ASSERT_EQ(doomed().process->Wait(5000), 128 + SIGKILL);
  Tally t = Verify();
  EXPECT_GE(t.acked_doomed, 50) << "the storm never got going on the killed backend: " << t.summary;
  EXPECT_GE(t.survivor_after_kill, 50) << "the survivor stopped serving during the storm: " << t.summary << "\n"
                                       << survivor().process->Log();
  EXPECT_EQ(survivor().process->CountLog("reconnecting"), 0) << survivor().process->Log();
  ExpectSurvivorServesAndStopsCleanly();
}

TEST_F(ServerStormTest, Kill9AfterItAnswered500WhileALockHoldsTheBatchAppliesNoneOfThe500s) {
  // Writes give up after 1 s; the lock is held for 4 s, so both backends answer 500 while
  // their abandoned transactions still wait for it.
  ASSERT_NO_FATAL_FAILURE(StartBackends({"--busy-timeout", "1"}));
  const std::string waiting_on_users =
      "SELECT count(*) FROM pg_locks WHERE relation = 'users'::regclass AND NOT granted";
  std::string waiting_at_kill;
  RunStorm(
      [&] {
        std::this_thread::sleep_for(1000ms);
        pg_->PsqlInBackground("postgres", "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4); COMMIT");
        // Both backends' batches wait for it (and later their reconnects, so "at least").
        EXPECT_TRUE(WaitForSql("SELECT (" + waiting_on_users + ") >= 2", "t", 3000))
            << "the backends' batches never waited for the lock";
        auto until = Clock::now() + 3s;
        while (errors_on_doomed_ == 0 && Clock::now() < until) std::this_thread::sleep_for(5ms);
        pg_->Psql("postgres", waiting_on_users, &waiting_at_kill);
      },
      5000ms);
  ASSERT_EQ(doomed().process->Wait(5000), 128 + SIGKILL);
  // Whatever waited for the lock is settled before anything is counted.
  EXPECT_TRUE(WaitForSql(waiting_on_users, "0", 5000));
  Tally t = Verify();
  std::cout << "transactions waiting for the lock at the kill: " << waiting_at_kill << std::endl;
  EXPECT_GE(t.acked_doomed, 50) << "the storm never got going on the killed backend: " << t.summary;
  EXPECT_GE(t.errors_doomed, 1) << "the killed backend answered no 500: " << t.summary;
  EXPECT_GE(t.survivor_after_kill, 50) << "the survivor did not serve again once the lock was gone: " << t.summary
                                       << "\n" << survivor().process->Log();
  ExpectSurvivorServesAndStopsCleanly();
}

}  // namespace
}  // namespace im::test
