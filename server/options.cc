#include "server/options.h"
#include "server/redis_presence.h"

#include "net/address.h"

#include <cxxopts.hpp>
#include <filesystem>
#include <iostream>

namespace im::server {
namespace {

int64_t SecondsToMs(double seconds) { return static_cast<int64_t>(seconds * 1000.0 + 0.5); }

bool ParsePortArg(const std::string& text, int* port) {
  try {
    size_t used = 0;
    int value = std::stoi(text, &used);
    if (used != text.size() || value < 0 || value > 65535) return false;
    *port = value;
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

int ParseServerOptions(int argc, char** argv, ServerOptions* out) {
  cxxopts::Options options("im-server",
                           "Instant-messaging server: accounts and buddy lists over TCP, "
                           "presence over UDP, stored in SQLite (or another engine).\n"
                           "  im-server [options]\n"
                           "  im-server TCP_PORT UDP_PORT DATA_DIR   (database DATA_DIR/im.db)");
  ServerOptions d;
  // clang-format off
  options.add_options()
    ("tcp-port", "TCP port for REG/ADD/DEL (0: any free port)", cxxopts::value<int>()->default_value(std::to_string(d.tcp_port)))
    ("udp-port", "UDP port for SET/GET (0: any free port)", cxxopts::value<int>()->default_value(std::to_string(d.udp_port)))
    ("host", "Address to bind both sockets to", cxxopts::value<std::string>()->default_value(d.host))
    ("store", "Storage engine: sqlite:PATH[?sync=full|normal&cache_mib=N&mmap_mib=N] (default sqlite:im.db), "
              "postgresql://USER@IP[:PORT]/DB[?host=SOCKETDIR&...] or postgresql:KEY=VALUE ... (libpq; IP or socket directory, no host names)",
     cxxopts::value<std::string>())
    ("presence", "Presence in Redis: redis://IP:PORT or redis+unix:///path (default: in the store)",
     cxxopts::value<std::string>())
    ("db", "SQLite database file (same as --store sqlite:PATH); several servers may share one", cxxopts::value<std::string>())
    ("presence-ttl", "Seconds after which a user without a fresh SET ONLINE is OFFLINE", cxxopts::value<double>()->default_value("30"))
    ("max-users", "Accounts allowed before REG answers 203 (0: no limit)", cxxopts::value<int64_t>()->default_value("0"))
    ("max-conns", "Open TCP connections before accepting pauses", cxxopts::value<int>()->default_value(std::to_string(d.max_conns)))
    ("max-conns-per-ip", "Open TCP connections from one address (0: no cap)", cxxopts::value<int>()->default_value(std::to_string(d.max_conns_per_ip)))
    ("trusted", "Addresses exempt from --max-conns-per-ip, comma-separated (the balancers in front)", cxxopts::value<std::vector<std::string>>())
    ("idle-timeout", "Seconds a connection may take to send its request line", cxxopts::value<double>()->default_value("5"))
    ("busy-timeout", "Seconds a write waits for a database locked elsewhere before 500", cxxopts::value<double>()->default_value("5"))
    ("sync", "SQLite: full (default): fsync every commit (survives power loss); normal: survives a crash only", cxxopts::value<std::string>())
    ("cache-mib", "SQLite page cache in MiB (default 16; more keeps more of a large database in memory)", cxxopts::value<std::string>())
    ("mmap-mib", "Read up to this many MiB of the SQLite file through a memory map (default 0: off; see README)", cxxopts::value<std::string>())
    ("auth", "optional (default): accounts registered with a password are protected, others work as before; required: REG needs a password", cxxopts::value<std::string>()->default_value("optional"))
    ("password-cost", "Argon2id cost of new password hashes: interactive (default, ~60 ms, 64 MiB), moderate (~20 ms, 19 MiB), minimum (tests only)", cxxopts::value<std::string>()->default_value("interactive"))
    ("session-ttl", "Hours a log-in's session (its proofs) stays valid", cxxopts::value<double>()->default_value("168"))
    ("tls-cert", "PEM certificate chain: the TCP port speaks TLS (with --tls-key)", cxxopts::value<std::string>())
    ("tls-key", "PEM private key of --tls-cert", cxxopts::value<std::string>())
    ("tls-only", "Refuse plain-text connections (default: a first byte that is not a TLS record means plain text)")
    ("no-tls-resumption", "Issue no TLS session tickets (default: tickets keyed from the shared secret, valid on every server of the store)")
    ("q,quiet", "Log warnings and errors only")
    ("h,help", "Show this help")
    ("positional", "", cxxopts::value<std::vector<std::string>>());
  // clang-format on
  options.parse_positional({"positional"});
  options.positional_help("[TCP_PORT UDP_PORT DATA_DIR]");
  try {
    auto result = options.parse(argc, argv);
    if (result.count("help")) {
      std::cout << options.help({""}) << std::endl;
      return -1;
    }
    out->tcp_port = result["tcp-port"].as<int>();
    out->udp_port = result["udp-port"].as<int>();
    out->host = result["host"].as<std::string>();
    if (result.count("store") && result.count("db")) throw std::invalid_argument("give --store or --db, not both");
    if (result.count("store")) out->store.url = result["store"].as<std::string>();
    if (result.count("presence")) out->presence_url = result["presence"].as<std::string>();
    if (result.count("db")) out->store.url = "sqlite:" + result["db"].as<std::string>();
    // Engine options the server only passes on; the engine checks them.
    if (result.count("sync")) out->store.options.emplace_back("sync", result["sync"].as<std::string>());
    if (result.count("cache-mib")) out->store.options.emplace_back("cache_mib", result["cache-mib"].as<std::string>());
    if (result.count("mmap-mib")) out->store.options.emplace_back("mmap_mib", result["mmap-mib"].as<std::string>());
    out->presence_ttl_ms = SecondsToMs(result["presence-ttl"].as<double>());
    out->store.presence_ttl_ms = out->presence_ttl_ms;
    out->store.max_users = result["max-users"].as<int64_t>();
    out->max_conns = result["max-conns"].as<int>();
    out->max_conns_per_ip = result["max-conns-per-ip"].as<int>();
    if (result.count("trusted")) out->trusted = result["trusted"].as<std::vector<std::string>>();
    for (const std::string& ip : out->trusted) {
      sockaddr_storage addr;
      if (!net::ParseIp(ip, 0, &addr)) throw std::invalid_argument("--trusted " + ip + ": not a numeric IP address");
    }
    out->idle_timeout_ms = SecondsToMs(result["idle-timeout"].as<double>());
    out->busy_timeout_ms = SecondsToMs(result["busy-timeout"].as<double>());
    out->quiet = result.count("quiet") > 0;
    if (result.count("tls-cert")) out->tls_cert = result["tls-cert"].as<std::string>();
    if (result.count("tls-key")) out->tls_key = result["tls-key"].as<std::string>();
    if (out->tls_cert.empty() != out->tls_key.empty()) throw std::invalid_argument("give --tls-cert and --tls-key together");
    out->tls_only = result.count("tls-only") > 0;
    if (out->tls_only && out->tls_cert.empty()) throw std::invalid_argument("--tls-only needs --tls-cert and --tls-key");
    out->tls_resumption = result.count("no-tls-resumption") == 0;
    std::string auth = result["auth"].as<std::string>();
    if (auth != "optional" && auth != "required") throw std::invalid_argument("--auth must be optional or required");
    out->accounts.auth_required = auth == "required";
    auto cost = auth::ParsePasswordCost(result["password-cost"].as<std::string>());
    if (!cost) throw std::invalid_argument("--password-cost must be interactive, moderate or minimum");
    out->accounts.password_cost = *cost;
    double ttl_hours = result["session-ttl"].as<double>();
    if (!(ttl_hours > 0 && ttl_hours <= 24 * 366)) throw std::invalid_argument("--session-ttl must be from 0 to 8784 hours");
    out->accounts.session_ttl_ms = static_cast<int64_t>(ttl_hours * 3600 * 1000);

    if (result.count("positional")) {
      // The project description's form: im-server 5001 1235 data1
      auto args = result["positional"].as<std::vector<std::string>>();
      if (args.size() != 3) throw std::invalid_argument("expected TCP_PORT UDP_PORT DATA_DIR");
      if (!ParsePortArg(args[0], &out->tcp_port) || !ParsePortArg(args[1], &out->udp_port)) {
        throw std::invalid_argument("ports must be numbers from 0 to 65535");
      }
      std::filesystem::create_directories(args[2]);
      out->store.url = "sqlite:" + (std::filesystem::path(args[2]) / "im.db").string();
    }
    if (out->tcp_port < 0 || out->tcp_port > 65535 || out->udp_port < 0 || out->udp_port > 65535)
      throw std::invalid_argument("ports must be from 0 to 65535");
    if (out->presence_ttl_ms <= 0 || out->idle_timeout_ms <= 0 || out->busy_timeout_ms < 0)
      throw std::invalid_argument("timeouts must be positive");
    if (out->max_conns_per_ip < 0) throw std::invalid_argument("--max-conns-per-ip must not be negative");
    if (out->max_conns < 1) throw std::invalid_argument("--max-conns must be at least 1");
    if (out->store.max_users < 0) throw std::invalid_argument("--max-users must not be negative");
    if (std::string error; !CheckStoreConfig(out->store, &error)) throw std::invalid_argument(error);
    if (RedisAddress redis; !out->presence_url.empty()) {
      if (std::string error; !ParseRedisUrl(out->presence_url, &redis, &error)) throw std::invalid_argument(error);
    }
  } catch (const std::exception& e) {
    std::cerr << "im-server: " << e.what() << "\n(try im-server --help)" << std::endl;
    return 2;
  }
  return 0;
}

}  // namespace im::server
