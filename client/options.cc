#include "client/options.h"

#include <cxxopts.hpp>
#include <iostream>

#include "net/address.h"
#include "proto/address.h"
#include "net/tls_context.h"

namespace im::client {
namespace {

constexpr char kDefaultHost[] = "127.0.0.1";  // of "--server PORT" and "--presence PORT"

// "host:port" -> host, "[::1]:port" -> ::1, "port" -> the default host; anything else as
// given (it is refused when parsed as an address).
std::string HostPart(const std::string& server) {
  proto::HostPort hp;
  return proto::SplitHostPort(server, kDefaultHost, &hp) ? hp.host : server;
}

}  // namespace

int ParseClientOptions(int argc, char** argv, ClientOptions* out) {
  cxxopts::Options options(
      "im-client",
      "Instant-messaging client: log in, keep your buddies' presence, chat peer to peer.\n"
      "  im-client [options]                    interactive\n"
      "  im-client [options] reg ID             one request, reply printed as-is (a grant is not)\n"
      "  im-client [options] add|del ID BUDDY\n"
      "  im-client [options] get ID\n"
      "  im-client [options] set ID ONLINE|OFFLINE PORT");
  // clang-format off
  options.add_options()
    ("user", "Your user id (asked for if missing)", cxxopts::value<std::string>())
    ("server", "Accounts server or balancer, HOST:PORT (TCP)", cxxopts::value<std::string>()->default_value(out->server))
    ("presence", "Presence server, HOST:PORT (UDP)", cxxopts::value<std::string>()->default_value(out->presence))
    ("msg-port", "TCP port for incoming chats (0: any free port)", cxxopts::value<int>()->default_value("0"))
    ("interval", "Seconds between presence updates", cxxopts::value<double>()->default_value("2"))
    ("timeout", "Seconds to wait for a server or a peer", cxxopts::value<double>()->default_value("5"))
    ("ask-password", "Log in with a password, asked for without echo (also asked when the account has one)")
    ("password-file", "Read the password from the first line of PATH (or set IM_PASSWORD); never give it on the command line",
     cxxopts::value<std::string>())
    ("plain-chat", "Also chat without encryption with buddies whose client cannot encrypt (always said so)")
    ("tls", "Account requests over TLS, verifying the server's certificate")
    ("ca-file", "PEM file of the CA(s) to trust with --tls (default: the system's)", cxxopts::value<std::string>())
    ("server-name", "Name the server's certificate must carry (default: the host part of --server)", cxxopts::value<std::string>())
    ("h,help", "Show this help")
    ("command", "", cxxopts::value<std::vector<std::string>>());
  // clang-format on
  options.parse_positional({"command"});
  options.positional_help("[COMMAND ARGS...]");
  try {
    auto result = options.parse(argc, argv);
    if (result.count("help")) {
      std::cout << options.help({""}) << std::endl;
      return -1;
    }
    if (result.count("user")) out->user = result["user"].as<std::string>();
    out->server = result["server"].as<std::string>();
    out->presence = result["presence"].as<std::string>();
    // Numeric addresses only ("localhost" is 127.0.0.1): the client never waits for a lookup.
    if (!net::ParseNumericAddress(out->server, kDefaultHost, &out->server_addr)) {
      throw std::invalid_argument("bad --server " + out->server);
    }
    if (!net::ParseNumericAddress(out->presence, kDefaultHost, &out->presence_addr)) {
      throw std::invalid_argument("bad --presence " + out->presence);
    }
    out->msg_port = result["msg-port"].as<int>();
    if (out->msg_port < 0 || out->msg_port > 65535) throw std::invalid_argument("--msg-port must be 0 to 65535");
    double interval = result["interval"].as<double>(), timeout = result["timeout"].as<double>();
    if (interval < 0.05 || timeout <= 0) throw std::invalid_argument("--interval must be at least 0.05 s and --timeout positive");
    out->interval_ms = static_cast<uint64_t>(interval * 1000 + 0.5);
    out->timeout_ms = static_cast<uint64_t>(timeout * 1000 + 0.5);
    out->ask_password = result.count("ask-password") > 0;
    out->allow_plain_chat = result.count("plain-chat") > 0;
    if (result.count("password-file")) out->password_file = result["password-file"].as<std::string>();
    if (result.count("tls")) {
      std::string ca_file = result.count("ca-file") ? result["ca-file"].as<std::string>() : "";
      out->tls.name = result.count("server-name") ? result["server-name"].as<std::string>() : HostPart(out->server);
      std::string error;
      net::SslCtxPtr ctx = net::MakeClientTlsContext(ca_file, &error);
      if (!ctx) throw std::invalid_argument(error);
      out->tls.ctx = std::shared_ptr<SSL_CTX>(ctx.release(), SSL_CTX_free);
    } else if (result.count("ca-file") || result.count("server-name")) {
      throw std::invalid_argument("--ca-file and --server-name need --tls");
    }
    if (result.count("command")) out->command = result["command"].as<std::vector<std::string>>();
  } catch (const std::exception& e) {
    std::cerr << "im-client: " << e.what() << "\n(try im-client --help)" << std::endl;
    return 2;
  }
  return 0;
}

}  // namespace im::client
