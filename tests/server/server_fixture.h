// A real im-server on loopback for integration tests, on the engine combination that
// IM_TEST_ENGINES names (each a meson suite, tests/server/meson.build):
//   sqlite (default)   a temporary SQLite file
//   postgresql         a database of its own on a real PostgreSQL (one per test program)
//   postgresql+redis   the same, and presence in a real Redis (one per test program,
//                      emptied before each test)
// The engines are started by the first test that needs them; one that cannot start fails
// the test loudly, never skips it.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/net.h"
#include "tests/support/postgres.h"
#include "tests/support/process.h"
#include "tests/support/redis.h"

namespace im::test {

class ServerTest : public ::testing::Test {
 protected:
  // Starts (or restarts, on the same database) the server with extra options.
  void Start(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args;
    if (Engines() != "sqlite") {
      ASSERT_TRUE(Engines() == "postgresql" || Engines() == "postgresql+redis")
          << "IM_TEST_ENGINES=" << Engines() << ": give sqlite, postgresql or postgresql+redis";
      static std::unique_ptr<Postgres> pg = Postgres::Start();
      ASSERT_TRUE(pg) << "PostgreSQL must start for the " << Engines() << " suite";
      pg_ = pg.get();
      if (database_.empty()) {
        static int databases = 0;
        database_ = "t" + std::to_string(++databases);
        ASSERT_TRUE(pg_->CreateDatabase(database_));
      }
      args = {"--store", pg_->Url(database_)};
      if (Engines() == "postgresql+redis") {
        static std::unique_ptr<Redis> redis = Redis::Start();
        ASSERT_TRUE(redis) << "redis-server must start for the " << Engines() << " suite";
        if (!redis_flushed_) {
          ASSERT_TRUE(redis->Cli("FLUSHALL")) << "an empty Redis for each test";
        }
        redis_flushed_ = true;
        args.insert(args.end(), {"--presence", redis->Url()});
      }
    }
    store_args_ = args;
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = StartServer(args.empty() || Engines() == "sqlite" ? db() : "", log(), args);
    ASSERT_GT(server_.tcp_port, 0);
    // A remote engine answers the shared secret after "listening"; until then passwords
    // answer 500, which is right but not what these tests are about.
    if (Engines() != "sqlite") {
      ASSERT_TRUE(server_.process->WaitForLog("shared secret loaded", 5000)) << server_.process->Log();
    }
  }
  // A second server on the same store as the one Start started (logging to `log_name`
  // in the test's directory), as a second backend behind a balancer would be.
  ServerHandle StartAnother(const std::string& log_name, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = store_args_;
    args.insert(args.end(), extra.begin(), extra.end());
    ServerHandle other = StartServer(Engines() == "sqlite" ? db() : "", dir_.File(log_name), args);
    if (other.process && Engines() != "sqlite") {
      EXPECT_TRUE(other.process->WaitForLog("shared secret loaded", 5000)) << other.process->Log();
    }
    return other;
  }
  static std::string Engines() {
    const char* e = std::getenv("IM_TEST_ENGINES");
    return e != nullptr && *e != '\0' ? e : "sqlite";
  }
  std::string db() const { return dir_.File("im.db"); }
  std::string log() const { return dir_.File("server.log"); }
  // Everything the account store holds, as text (to check what is never stored).
  std::string StoredText() {
    if (pg_ == nullptr) return ReadAll(db()) + ReadAll(db() + "-wal");
    std::string out;
    EXPECT_TRUE(pg_->Psql(database_, "SELECT (SELECT coalesce(string_agg(u::text, ' '), '') FROM users u) || ' ' || "
                                     "(SELECT coalesce(string_agg(s::text, ' '), '') FROM sessions s)", &out));
    return out;
  }
  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string Request(const std::string& line) { return TcpRequest(server_.tcp_port, line); }
  std::optional<std::string> Ask(const std::string& datagram) {
    return udp_.Ask(server_.udp_port, datagram);
  }
  // After a flood the kernel may drop a datagram, as UDP may: ask again, as clients do
  // every interval (bounded: 10 tries of 500 ms).
  std::optional<std::string> AskUntilAnswered(const std::string& datagram) {
    for (int i = 0; i < 10; ++i) {
      if (auto reply = udp_.Ask(server_.udp_port, datagram, 500)) return reply;
    }
    return std::nullopt;
  }

  TempDir dir_;
  ServerHandle server_;
  UdpClient udp_;
  Postgres* pg_ = nullptr;
  std::string database_;
  std::vector<std::string> store_args_;  // what Start gave the server to reach its store
  bool redis_flushed_ = false;
};

}  // namespace im::test
