// The load engine: one libuv loop, `concurrency` slots each with at most one request in
// flight. Closed loop: a slot sends its next request as soon as the last one is answered.
// Open loop (rate > 0): requests are due at fixed intended times; a due request waits for
// a free slot, and its latency counts from its intended time, so a server that stalls
// cannot hide the wait (no coordinated omission). Always bounded in time: a --requests run
// also stops at duration_ms, and every request has a timeout. Loop thread only.
#pragma once

#include <openssl/ssl.h>
#include <uv.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tools/loadgen/histogram.h"
#include "tools/loadgen/scenario.h"

namespace im::loadgen {

struct DriverOptions {
  sockaddr_storage tcp{};      // accounts port
  sockaddr_storage udp{};      // presence port
  int concurrency = 16;
  double rate = 0;             // requests/s; 0: closed loop
  uint64_t duration_ms = 5000; // measuring time (after warmup); with requests > 0, the cap
  uint64_t requests = 0;       // stop after this many measured requests (or duration_ms)
  uint64_t warmup_ms = 0;      // run but don't count
  uint64_t timeout_ms = 2000;  // per request
  bool progress = false;       // a live line on stderr once a second
  // TLS to the accounts port (measured requests and seeding alike): a client context that
  // verifies the server, the name its certificate carries, and whether each slot offers
  // its last session. Null: plain TCP.
  SSL_CTX* tls_ctx = nullptr;
  std::string tls_name;
  bool tls_resume = true;
};

struct Results {
  Histogram latency;              // microseconds, measured requests that succeeded
  uint64_t ok = 0;                // measured, validated successes (a udp-set batch counts its SETs)
  uint64_t failed = 0;            // measured failures (in `errors`)
  double seconds = 0;             // measuring time
  std::map<std::string, uint64_t> errors;   // kind -> count
  std::map<std::string, std::string> samples;  // kind -> one example
  uint64_t seed_failures = 0;
  uint64_t tls_handshakes = 0;    // TLS runs: completed handshakes (seeding too), and resumed ones
  uint64_t tls_resumed = 0;
};

// Runs the seed lines, then the measured load; returns when everything has closed.
Results RunLoad(const DriverOptions& options, Scenario& scenario);

}  // namespace im::loadgen
