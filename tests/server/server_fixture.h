// A real im-server on loopback with a temporary database, for integration tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/net.h"
#include "tests/support/process.h"

namespace im::test {

class ServerTest : public ::testing::Test {
 protected:
  // Starts (or restarts, on the same database) the server with extra options.
  void Start(const std::vector<std::string>& extra = {}) {
    server_ = StartServer(db(), log(), extra);
    ASSERT_GT(server_.tcp_port, 0);
  }
  std::string db() const { return dir_.File("im.db"); }
  std::string log() const { return dir_.File("server.log"); }
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
};

}  // namespace im::test
