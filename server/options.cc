#include "server/options.h"

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
                           "presence over UDP, stored in SQLite.\n"
                           "  im-server [options]\n"
                           "  im-server TCP_PORT UDP_PORT DATA_DIR   (database DATA_DIR/im.db)");
  ServerOptions d;
  // clang-format off
  options.add_options()
    ("tcp-port", "TCP port for REG/ADD/DEL (0: any free port)", cxxopts::value<int>()->default_value(std::to_string(d.tcp_port)))
    ("udp-port", "UDP port for SET/GET (0: any free port)", cxxopts::value<int>()->default_value(std::to_string(d.udp_port)))
    ("host", "Address to bind both sockets to", cxxopts::value<std::string>()->default_value(d.host))
    ("db", "SQLite database file; several servers may share one", cxxopts::value<std::string>()->default_value(d.db_path))
    ("presence-ttl", "Seconds after which a user without a fresh SET ONLINE is OFFLINE", cxxopts::value<double>()->default_value("30"))
    ("max-users", "Accounts allowed before REG answers 203 (0: no limit)", cxxopts::value<int64_t>()->default_value("0"))
    ("max-conns", "Open TCP connections before accepting pauses", cxxopts::value<int>()->default_value(std::to_string(d.max_conns)))
    ("idle-timeout", "Seconds a connection may take to send its request line", cxxopts::value<double>()->default_value("5"))
    ("busy-timeout", "Seconds a write waits for a database locked elsewhere before 500", cxxopts::value<double>()->default_value("5"))
    ("sync", "full: fsync every commit (survives power loss); normal: survives a crash only", cxxopts::value<std::string>()->default_value("full"))
    ("cache-mib", "SQLite page cache in MiB (more keeps more of a large database in memory)", cxxopts::value<int>()->default_value(std::to_string(d.cache_mib)))
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
    out->db_path = result["db"].as<std::string>();
    out->presence_ttl_ms = SecondsToMs(result["presence-ttl"].as<double>());
    out->max_users = result["max-users"].as<int64_t>();
    out->max_conns = result["max-conns"].as<int>();
    out->idle_timeout_ms = SecondsToMs(result["idle-timeout"].as<double>());
    out->busy_timeout_ms = SecondsToMs(result["busy-timeout"].as<double>());
    out->cache_mib = result["cache-mib"].as<int>();
    out->quiet = result.count("quiet") > 0;
    std::string sync = result["sync"].as<std::string>();
    if (sync != "full" && sync != "normal") throw std::invalid_argument("--sync must be full or normal");
    out->sync_full = sync == "full";

    if (result.count("positional")) {
      // The project description's form: im-server 5001 1235 data1
      auto args = result["positional"].as<std::vector<std::string>>();
      if (args.size() != 3) throw std::invalid_argument("expected TCP_PORT UDP_PORT DATA_DIR");
      if (!ParsePortArg(args[0], &out->tcp_port) || !ParsePortArg(args[1], &out->udp_port)) {
        throw std::invalid_argument("ports must be numbers from 0 to 65535");
      }
      std::filesystem::create_directories(args[2]);
      out->db_path = (std::filesystem::path(args[2]) / "im.db").string();
    }
    if (out->tcp_port < 0 || out->tcp_port > 65535 || out->udp_port < 0 || out->udp_port > 65535)
      throw std::invalid_argument("ports must be from 0 to 65535");
    if (out->presence_ttl_ms <= 0 || out->idle_timeout_ms <= 0 || out->busy_timeout_ms < 0)
      throw std::invalid_argument("timeouts must be positive");
    if (out->max_conns < 1) throw std::invalid_argument("--max-conns must be at least 1");
    if (out->max_users < 0) throw std::invalid_argument("--max-users must not be negative");
    if (out->cache_mib < 1 || out->cache_mib > 65536)
      throw std::invalid_argument("--cache-mib must be from 1 to 65536");
  } catch (const std::exception& e) {
    std::cerr << "im-server: " << e.what() << "\n(try im-server --help)" << std::endl;
    return 2;
  }
  return 0;
}

}  // namespace im::server
