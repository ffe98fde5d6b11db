#include "tests/support/redis.h"

#include <signal.h>

#include <gtest/gtest.h>

namespace im::test {

std::unique_ptr<Redis> Redis::Start() {
  std::unique_ptr<Redis> redis(new Redis());
  redis->socket_ = redis->dir_.File("redis.sock");
  if (!redis->Restart()) return nullptr;
  return redis;
}

bool Redis::Restart() {
  process_ = Process::Start({"/usr/bin/redis-server", "--port", "0", "--unixsocket", socket_, "--save", "",
                             "--appendonly", "no", "--dir", dir_.path(), "--daemonize", "no"},
                            dir_.File("redis.log"));
  if (!process_ || !process_->WaitForLog("[Rr]eady to accept connections", 5000)) {
    ADD_FAILURE() << "redis-server did not start (apt-get install redis-server):\n" << Log();
    return false;
  }
  return true;
}

void Redis::Kill() {
  if (!process_) return;
  process_->Signal(SIGKILL);
  process_->Wait(5000);
  ::unlink(socket_.c_str());
}

bool Redis::Cli(const std::string& args, std::string* out) const {
  return RunShell("redis-cli -s " + ShellQuote(socket_) + " " + args, 10, out);
}

}  // namespace im::test
