// im-lb's command line: every option with its meaning and default in one place.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lb/backend_pool.h"

namespace im::lb {

struct LbOptions {
  sockaddr_storage listen{};         // resolved --listen (default 0.0.0.0:1234; port 0 picks one)
  std::vector<Backend> backends;     // default 127.0.0.1:5001 and 127.0.0.1:5002
  uint64_t connect_timeout_ms = 1000;  // a backend slower to accept is marked down
  uint64_t check_interval_ms = 1000;   // how often down backends are probed
  uint64_t idle_timeout_ms = 60000;    // a pair with no traffic this long is closed
  uint64_t drain_timeout_ms = 5000;    // SIGTERM waits this long for open pairs
  int max_conns = 10000;               // open client connections; past it accepting pauses
  bool quiet = false;                  // no per-connection lines
};

// Parses argv. Returns 0 to run, -1 after --help (exit 0), 2 on a usage error (printed).
int ParseLbOptions(int argc, char** argv, LbOptions* options);

}  // namespace im::lb
