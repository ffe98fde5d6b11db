// im-lb's command line: every option with its meaning and default in one place.
#pragma once

#include <sys/socket.h>

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lb/backend_pool.h"

namespace im::lb {

struct LbOptions {
  sockaddr_storage listen{};         // resolved --listen (default 0.0.0.0:1234; port 0 picks one)
  std::vector<Backend> backends;     // default 127.0.0.1:5001 and 127.0.0.1:5002
  uint64_t connect_timeout_ms = 1000;  // a backend slower to accept is marked down
  uint64_t check_interval_ms = 1000;   // how often every backend is probed with PING
  uint64_t check_timeout_ms = 1000;    // a probe without its reply line this long: down
  std::shared_ptr<SSL_CTX> check_tls;  // --check-tls: probes handshake first (null: plain PING)
  std::string check_name;              // --check-name; empty: the backend's IP address
  uint64_t idle_timeout_ms = 60000;    // a pair with no traffic this long is closed
  uint64_t first_byte_timeout_ms = 5000;  // a client that sends nothing this long is closed
  uint64_t half_close_timeout_ms = 2000;  // after one side has ended, silence this long closes
  uint64_t response_timeout_ms = 10000;   // no reply byte this long: backend down, retry (0: off)
  uint64_t drain_timeout_ms = 5000;    // SIGTERM waits this long for open pairs
  int max_conns = 10000;               // open client connections; past it the oldest silent one is shed, or accepting pauses
  int max_conns_per_ip = 64;           // open client connections per source address (0: no cap)
  bool quiet = false;                  // no per-connection lines
};

// Parses argv. Returns 0 to run, -1 after --help (exit 0), 2 on a usage error (printed).
int ParseLbOptions(int argc, char** argv, LbOptions* options);

}  // namespace im::lb
