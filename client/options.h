// im-client's command line: the interactive client's options and the one-shot commands.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "client/tls_client.h"

namespace im::client {

struct ClientOptions {
  std::string user;                      // empty: ask
  std::string server = "127.0.0.1:1234";     // accounts (TCP): the balancer by default
  std::string presence = "127.0.0.1:1235";   // presence (UDP)
  sockaddr_storage server_addr{};
  sockaddr_storage presence_addr{};
  int msg_port = 0;                      // chat listener; 0 picks a free port
  uint64_t interval_ms = 2000;           // SET + GET period
  uint64_t timeout_ms = 5000;            // account requests, chat handshakes, one-shot GET
  std::vector<std::string> command;      // a one-shot command ("reg alice"), or empty
  // Passwords never come on the command line (other users see it in ps): from the
  // IM_PASSWORD environment variable, the first line of a file, or typed when asked.
  std::string password_file;             // empty: none
  bool ask_password = false;             // interactive: ask for a password at log-in
  TlsClient tls;                         // --tls: account requests over TLS (ctx null: plain)
  bool allow_plain_chat = false;         // --plain-chat: chats without encryption with clients that have none
};

// Returns 0 to run, -1 after --help (exit 0), 2 on a usage error (printed).
int ParseClientOptions(int argc, char** argv, ClientOptions* options);

}  // namespace im::client
