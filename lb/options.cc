#include "lb/options.h"

#include "proto/address.h"

#include <netdb.h>
#include <uv.h>

#include <cstring>
#include <cxxopts.hpp>
#include <iostream>

namespace im::lb {

bool ResolveHostPort(const std::string& text, const std::string& default_host,
                     sockaddr_storage* addr, std::string* error) {
  proto::HostPort hp;
  if (!proto::SplitHostPort(text, default_host, &hp)) {
    *error = "bad address " + text + " (want HOST:PORT, [V6ADDR]:PORT or PORT, port 0-65535)";
    return false;
  }
  std::memset(addr, 0, sizeof *addr);
  int port = static_cast<int>(hp.port);
  if (uv_ip4_addr(hp.host.c_str(), port, reinterpret_cast<sockaddr_in*>(addr)) == 0) return true;
  if (uv_ip6_addr(hp.host.c_str(), port, reinterpret_cast<sockaddr_in6*>(addr)) == 0) return true;
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (int rc = getaddrinfo(hp.host.c_str(), nullptr, &hints, &res); rc != 0) {
    *error = "cannot resolve " + hp.host + ": " + gai_strerror(rc);
    return false;
  }
  std::memcpy(addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  reinterpret_cast<sockaddr_in*>(addr)->sin_port = htons(static_cast<uint16_t>(port));  // v4 and v6 alike
  return true;
}

int ParseLbOptions(int argc, char** argv, LbOptions* out) {
  cxxopts::Options options("im-lb", "Round-robin TCP load balancer for im-server backends.");
  // clang-format off
  options.add_options()
    ("listen", "[HOST:]PORT to accept clients on (port 0: any free port)", cxxopts::value<std::string>()->default_value("1234"))
    ("backend", "HOST:PORT of a backend; repeat for each (default 127.0.0.1:5001 and 127.0.0.1:5002)", cxxopts::value<std::vector<std::string>>())
    ("connect-timeout", "Seconds a backend may take to accept before it is marked down", cxxopts::value<double>()->default_value("1"))
    ("check-interval", "Seconds between health probes of down backends", cxxopts::value<double>()->default_value("1"))
    ("idle-timeout", "Seconds a connection pair may go without traffic", cxxopts::value<double>()->default_value("60"))
    ("drain-timeout", "Seconds SIGTERM waits for open connections to finish", cxxopts::value<double>()->default_value("5"))
    ("max-conns", "Open client connections before accepting pauses", cxxopts::value<int>()->default_value("10000"))
    ("q,quiet", "No per-connection log lines (use under load)")
    ("h,help", "Show this help");
  // clang-format on
  auto ms = [](double s) { return static_cast<uint64_t>(s * 1000.0 + 0.5); };
  try {
    auto result = options.parse(argc, argv);
    if (result.count("help")) {
      std::cout << options.help() << std::endl;
      return -1;
    }
    if (!result.unmatched().empty()) throw std::invalid_argument("unexpected argument " + result.unmatched()[0]);
    std::string error;
    sockaddr_storage listen{};
    std::string listen_text = result["listen"].as<std::string>();
    proto::HostPort listen_at;
    if (!proto::SplitHostPort(listen_text, "0.0.0.0", &listen_at) ||
        !ResolveHostPort(listen_text, "0.0.0.0", &listen, &error)) {
      throw std::invalid_argument(error.empty() ? "bad --listen " + listen_text : error);
    }
    out->listen_host = listen_at.host;
    out->listen_port = static_cast<int>(listen_at.port);
    std::vector<std::string> names = {"127.0.0.1:5001", "127.0.0.1:5002"};
    if (result.count("backend")) names = result["backend"].as<std::vector<std::string>>();
    for (const auto& name : names) {
      Backend b;
      b.name = name;
      if (!ResolveHostPort(name, "127.0.0.1", &b.addr, &error)) throw std::invalid_argument(error);
      out->backends.push_back(b);
    }
    out->connect_timeout_ms = ms(result["connect-timeout"].as<double>());
    out->check_interval_ms = ms(result["check-interval"].as<double>());
    out->idle_timeout_ms = ms(result["idle-timeout"].as<double>());
    out->drain_timeout_ms = ms(result["drain-timeout"].as<double>());
    out->max_conns = result["max-conns"].as<int>();
    out->quiet = result.count("quiet") > 0;
    if (out->connect_timeout_ms == 0 || out->check_interval_ms == 0 || out->idle_timeout_ms == 0)
      throw std::invalid_argument("timeouts must be positive");
    if (out->max_conns < 1) throw std::invalid_argument("--max-conns must be at least 1");
  } catch (const std::exception& e) {
    std::cerr << "im-lb: " << e.what() << "\n(try im-lb --help)" << std::endl;
    return 2;
  }
  return 0;
}

}  // namespace im::lb
