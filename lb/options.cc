#include "lb/options.h"

#include "net/tls_context.h"

#include <cxxopts.hpp>
#include <iostream>

#include "net/address.h"

namespace im::lb {

int ParseLbOptions(int argc, char** argv, LbOptions* out) {
  cxxopts::Options options("im-lb", "Round-robin TCP load balancer for im-server backends.");
  // clang-format off
  options.add_options()
    ("listen", "[HOST:]PORT to accept clients on (port 0: any free port)", cxxopts::value<std::string>()->default_value("1234"))
    ("backend", "HOST:PORT of a backend; repeat for each (default 127.0.0.1:5001 and 127.0.0.1:5002)", cxxopts::value<std::vector<std::string>>())
    ("connect-timeout", "Seconds a backend may take to accept before it is marked down", cxxopts::value<double>()->default_value("1"))
    ("check-interval", "Seconds between health probes (PING) of every backend", cxxopts::value<double>()->default_value("1"))
    ("check-tls", "Health probes do a TLS handshake before PING (backends with --tls-cert)")
    ("check-ca", "PEM CA file the probes verify backends against (with --check-tls; default: the system's)", cxxopts::value<std::string>())
    ("check-name", "Name the backends' certificates must carry (with --check-tls; default: each backend's IP address)", cxxopts::value<std::string>())
    ("check-timeout", "Seconds a probe may take to connect and get its reply line before the backend is marked down", cxxopts::value<double>()->default_value("1"))
    ("idle-timeout", "Seconds a connection pair may go without traffic", cxxopts::value<double>()->default_value("60"))
    ("first-byte-timeout", "Seconds a client may take to send its first byte before it is closed", cxxopts::value<double>()->default_value("5"))
    ("half-close-timeout", "Seconds a pair may stay silent once one side has ended before it is closed", cxxopts::value<double>()->default_value("2"))
    ("response-timeout", "Seconds a backend may take to send the first byte of its reply before it is marked down and the request is retried on another (0: never; keep above the servers' --busy-timeout)", cxxopts::value<double>()->default_value("10"))
    ("drain-timeout", "Seconds SIGTERM waits for open connections to finish", cxxopts::value<double>()->default_value("5"))
    ("max-conns", "Open client connections; past it the oldest one that has sent nothing is closed, or accepting pauses", cxxopts::value<int>()->default_value("10000"))
    ("max-conns-per-ip", "Open client connections per source address; past it that address's oldest one that has sent nothing is closed, or the new one is (0: no cap)", cxxopts::value<int>()->default_value("64"))
    ("q,quiet", "No per-connection log lines (use under load)")
    ("h,help", "Show this help");
  // clang-format on
  auto ms = [](double s) {
    if (!(s >= 0 && s <= 1e9)) throw std::invalid_argument("times must be between 0 and 1e9 seconds");
    return static_cast<uint64_t>(s * 1000.0 + 0.5);
  };
  try {
    auto result = options.parse(argc, argv);
    if (result.count("help")) {
      std::cout << options.help() << std::endl;
      return -1;
    }
    if (!result.unmatched().empty()) throw std::invalid_argument("unexpected argument " + result.unmatched()[0]);
    // Start-up: names may be resolved here (blocking), never later on the loop.
    std::string error;
    if (!net::ResolveHostPort(result["listen"].as<std::string>(), "0.0.0.0", &out->listen, &error)) {
      throw std::invalid_argument("--listen: " + error);
    }
    std::vector<std::string> names = {"127.0.0.1:5001", "127.0.0.1:5002"};
    if (result.count("backend")) names = result["backend"].as<std::vector<std::string>>();
    for (const auto& name : names) {
      Backend b;
      b.name = name;
      if (!net::ResolveHostPort(name, "127.0.0.1", &b.addr, &error)) throw std::invalid_argument("--backend: " + error);
      out->backends.push_back(b);
    }
    out->connect_timeout_ms = ms(result["connect-timeout"].as<double>());
    out->check_interval_ms = ms(result["check-interval"].as<double>());
    out->check_timeout_ms = ms(result["check-timeout"].as<double>());
    if (result.count("check-tls")) {
      std::string error;
      net::SslCtxPtr ctx = net::MakeClientTlsContext(result.count("check-ca") ? result["check-ca"].as<std::string>() : "", &error);
      if (!ctx) throw std::invalid_argument(error);
      out->check_tls = std::shared_ptr<SSL_CTX>(ctx.release(), SSL_CTX_free);
      if (result.count("check-name")) out->check_name = result["check-name"].as<std::string>();
    } else if (result.count("check-ca") || result.count("check-name")) {
      throw std::invalid_argument("--check-ca and --check-name need --check-tls");
    }
    out->idle_timeout_ms = ms(result["idle-timeout"].as<double>());
    out->first_byte_timeout_ms = ms(result["first-byte-timeout"].as<double>());
    out->half_close_timeout_ms = ms(result["half-close-timeout"].as<double>());
    out->response_timeout_ms = ms(result["response-timeout"].as<double>());
    out->drain_timeout_ms = ms(result["drain-timeout"].as<double>());
    out->max_conns = result["max-conns"].as<int>();
    out->max_conns_per_ip = result["max-conns-per-ip"].as<int>();
    out->quiet = result.count("quiet") > 0;
    if (out->connect_timeout_ms == 0 || out->check_interval_ms == 0 || out->check_timeout_ms == 0 ||
        out->idle_timeout_ms == 0 || out->first_byte_timeout_ms == 0 || out->half_close_timeout_ms == 0)
      throw std::invalid_argument("timeouts must be positive (only --response-timeout may be 0)");
    if (out->max_conns < 1) throw std::invalid_argument("--max-conns must be at least 1");
    if (out->max_conns_per_ip < 0) throw std::invalid_argument("--max-conns-per-ip must be 0 (no cap) or more");
  } catch (const std::exception& e) {
    std::cerr << "im-lb: " << e.what() << "\n(try im-lb --help)" << std::endl;
    return 2;
  }
  return 0;
}

}  // namespace im::lb
