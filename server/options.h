// im-server's command line: every option with its meaning and default in one place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "server/account_service.h"
#include "server/store_config.h"

namespace im::server {

struct ServerOptions {
  std::string host = "0.0.0.0";    // address for both sockets
  int tcp_port = 5001;             // accounts (REG/ADD/DEL); 0 picks a free port
  int udp_port = 1235;             // presence (SET/GET); 0 picks a free port
  StoreConfig store;               // --store / --db and the engine options
  std::string presence_url;        // --presence redis://IP:PORT | redis+unix:///path; empty: in the store
  int64_t presence_ttl_ms = 30000; // a SET ONLINE older than this counts as OFFLINE
  int max_conns = 10000;           // open TCP connections; past it, the oldest silent one is shed
  int max_conns_per_ip = 256;      // open TCP connections from one address (0: no cap)
  std::vector<std::string> trusted;  // addresses exempt from the cap (a balancer in front)
  int64_t idle_timeout_ms = 5000;  // a connection must send its line within this
  int64_t busy_timeout_ms = 5000;  // how long a write may wait for the store; then 500
  AccountOptions accounts;         // --auth, --password-cost, --session-ttl
  // TLS on the account port: both files given turns it on.
  std::string tls_cert;            // PEM certificate chain
  std::string tls_key;             // PEM private key (keep it mode 0600)
  bool tls_only = false;           // refuse plain text (else the first byte decides)
  bool tls_resumption = true;      // session tickets keyed from the shared secret
  bool quiet = false;              // log warnings and errors only
  // Sockets handed over by systemd socket activation (LISTEN_FDS); -1: bind our own.
  int inherited_tcp_fd = -1;
  int inherited_udp_fd = -1;
};

// Parses argv. Returns 0 to run, -1 when --help was printed (exit 0), or 2 on a usage
// error (the message already printed).
int ParseServerOptions(int argc, char** argv, ServerOptions* options);

}  // namespace im::server
