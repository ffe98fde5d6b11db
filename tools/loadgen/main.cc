// im-loadgen: drives im-server, im-lb or any line server with a real protocol load and
// reports throughput, latency percentiles and errors by kind. Always stops by itself.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <iostream>

#include "net/address.h"
#include "net/tls_context.h"
#include "tools/loadgen/driver.h"
#include "tools/loadgen/report.h"

namespace {

using namespace im::loadgen;

// A numeric loopback HOST:PORT only (127.0.0.0/8 or ::1): load never leaves the machine.
bool Resolve(const std::string& text, sockaddr_storage* addr) {
  return im::net::ParseNumericAddress(text, "127.0.0.1", addr) &&
         im::net::IsLoopback(reinterpret_cast<const sockaddr*>(addr));
}

// Runs the load in `procs` forked children, each with its share of the concurrency, rate
// and request count and its own user prefix; their results come back over pipes.
// REQUIRES: no libuv loop exists yet in this process.
bool RunChildren(int procs, const DriverOptions& d, const ScenarioOptions& s, Results* total) {
  std::vector<std::pair<pid_t, int>> children;
  for (int p = 0; p < procs; ++p) {
    int fds[2];
    if (pipe(fds) != 0) return false;
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      close(fds[0]);
      DriverOptions cd = d;
      ScenarioOptions cs = s;
      cd.concurrency = std::max(1, d.concurrency / procs);
      cd.rate = d.rate / procs;
      cd.requests = d.requests / static_cast<uint64_t>(procs);
      cd.progress = false;
      cs.prefix = s.prefix + "p" + std::to_string(p) + "_";
      cs.slots = cd.concurrency;
      std::string error;
      auto scenario = MakeScenario(cs, &error);
      if (!scenario) _exit(2);
      std::string out = Serialize(RunLoad(cd, *scenario));
      for (size_t off = 0; off < out.size();) {
        ssize_t n = write(fds[1], out.data() + off, out.size() - off);
        if (n <= 0) _exit(3);
        off += static_cast<size_t>(n);
      }
      _exit(0);
    }
    close(fds[1]);
    children.emplace_back(pid, fds[0]);
  }
  bool all_ok = true;
  for (auto [pid, fd] : children) {
    std::string text;
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    close(fd);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !Merge(text, total)) {
      std::cerr << "im-loadgen: load process " << pid << " failed" << std::endl;
      all_ok = false;
    }
  }
  return all_ok;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  cxxopts::Options options("im-loadgen", "Load generator for im-server, im-lb and line servers (loopback only).");
  // clang-format off
  options.add_options()
    ("scenario", "reg | login | add | udp-get | udp-set | mixed | raw", cxxopts::value<std::string>()->default_value("reg"))
    ("tcp", "TCP target HOST:PORT (im-server, im-lb, or a raw line server)", cxxopts::value<std::string>()->default_value("127.0.0.1:5001"))
    ("udp", "UDP presence target HOST:PORT", cxxopts::value<std::string>()->default_value("127.0.0.1:1235"))
    ("c,concurrency", "Requests in flight at once", cxxopts::value<int>()->default_value("16"))
    ("rate", "Open loop: requests per second offered (0: closed loop)", cxxopts::value<double>()->default_value("0"))
    ("duration", "Seconds to measure (after warmup)", cxxopts::value<double>()->default_value("5"))
    ("requests", "Stop after this many measured requests instead (--duration, if given, still caps the time; else 600 s)", cxxopts::value<uint64_t>()->default_value("0"))
    ("warmup", "Seconds to run before measuring", cxxopts::value<double>()->default_value("0"))
    ("timeout", "Seconds before a request counts as timed out", cxxopts::value<double>()->default_value("2"))
    ("users", "Users in the population (add, udp-get, udp-set)", cxxopts::value<int>()->default_value("100"))
    ("buddies", "Buddies per user (udp-get, mixed)", cxxopts::value<int>()->default_value("10"))
    ("interval", "mixed: seconds between a user's heartbeats", cxxopts::value<double>()->default_value("1"))
    ("set-batch", "udp-set: SETs per batch, each batch closed by a GET that checks they landed", cxxopts::value<int>()->default_value("8"))
    ("seeded-users", "udp-get/udp-set: use users PREFIX0..N-1 already in the database, each with --buddies buddies (bench bulk seed); 0: register users over TCP", cxxopts::value<int>()->default_value("0"))
    ("seeded-prefix", "Name prefix of the --seeded-users population", cxxopts::value<std::string>()->default_value("seed"))
    ("proven", "udp-get/udp-set: accounts with a password, linked by proven ADDs, every datagram with its user's proof")
    ("line", "raw: the line to send", cxxopts::value<std::string>()->default_value(""))
    ("expect", "raw: the reply prefix that counts as success", cxxopts::value<std::string>()->default_value(""))
    ("tls", "Speak TLS to the --tcp target (im-server --tls-cert, or a TLS-terminating proxy)")
    ("ca-file", "TLS: the CA that signed the server's certificate (default: the system's)", cxxopts::value<std::string>()->default_value(""))
    ("tls-name", "TLS: the name the server's certificate must carry", cxxopts::value<std::string>()->default_value("localhost"))
    ("no-tls-resumption", "TLS: a full handshake every connection (by default each slot offers its last session)")
    ("prefix", "User-id prefix (default: unique per run)", cxxopts::value<std::string>()->default_value(""))
    ("procs", "Fork this many load processes (each its own loop)", cxxopts::value<int>()->default_value("1"))
    ("json", "One JSON object instead of text")
    ("h,help", "Show this help");
  // clang-format on
  DriverOptions d;
  ScenarioOptions s;
  int procs = 1;
  bool json = false;
  bool tls = false;
  std::string ca_file;
  try {
    auto r = options.parse(argc, argv);
    if (r.count("help")) {
      std::cout << options.help() << std::endl;
      return 0;
    }
    s.name = r["scenario"].as<std::string>();
    if (!Resolve(r["tcp"].as<std::string>(), &d.tcp) || !Resolve(r["udp"].as<std::string>(), &d.udp)) {
      throw std::invalid_argument("--tcp/--udp must be numeric loopback HOST:PORT (127.0.0.1 or ::1)");
    }
    d.concurrency = r["concurrency"].as<int>();
    d.rate = r["rate"].as<double>();
    d.duration_ms = static_cast<uint64_t>(r["duration"].as<double>() * 1000);
    d.requests = r["requests"].as<uint64_t>();
    if (d.requests > 0 && r.count("duration") == 0) d.duration_ms = 600000;  // the time cap of a --requests run
    d.warmup_ms = static_cast<uint64_t>(r["warmup"].as<double>() * 1000);
    d.timeout_ms = static_cast<uint64_t>(r["timeout"].as<double>() * 1000);
    s.users = r["users"].as<int>();
    s.buddies = r["buddies"].as<int>();
    s.interval_ms = static_cast<uint64_t>(r["interval"].as<double>() * 1000);
    s.set_batch = r["set-batch"].as<int>();
    s.seeded_users = r["seeded-users"].as<int>();
    s.seeded_prefix = r["seeded-prefix"].as<std::string>();
    s.proven = r.count("proven") > 0;
    s.raw_line = r["line"].as<std::string>();
    s.raw_expect = r["expect"].as<std::string>();
    s.prefix = r["prefix"].as<std::string>();
    procs = r["procs"].as<int>();
    json = r.count("json") > 0;
    tls = r.count("tls") > 0;
    ca_file = r["ca-file"].as<std::string>();
    d.tls_name = r["tls-name"].as<std::string>();
    d.tls_resume = r.count("no-tls-resumption") == 0;
    if (!tls && (r.count("ca-file") || r.count("tls-name") || r.count("no-tls-resumption"))) {
      throw std::invalid_argument("--ca-file, --tls-name and --no-tls-resumption need --tls");
    }
    if (d.concurrency < 1 || d.concurrency > 10000 || procs < 1 || procs > 64 || s.users < 1 || s.buddies < 0 ||
        d.timeout_ms == 0 || d.duration_ms == 0 || d.duration_ms > 3600000 || s.set_batch < 1 || s.set_batch > 64 ||
        s.seeded_users < 0 || d.rate < 0 || d.rate > 10e6) {
      throw std::invalid_argument(
          "out-of-range option (concurrency 1-10000, procs 1-64, duration over 0 up to 1 h, set-batch 1-64, rate up to 10M)");
    }
  } catch (const std::exception& e) {
    std::cerr << "im-loadgen: " << e.what() << "\n(try im-loadgen --help)" << std::endl;
    return 2;
  }
  if (s.prefix.empty()) s.prefix = "L" + std::to_string(getpid() % 100000) + "x" + std::to_string(time(nullptr) % 100000) + "_";
  d.progress = isatty(STDERR_FILENO) && !json;
  // Made before any fork: each child inherits the context and makes its own connections.
  im::net::SslCtxPtr tls_ctx;
  if (tls) {
    std::string error;
    tls_ctx = im::net::MakeClientTlsContext(ca_file, &error);
    if (!tls_ctx) {
      std::cerr << "im-loadgen: " << error << std::endl;
      return 2;
    }
    if (!d.tls_resume) im::net::DisableResumption(tls_ctx.get());
    d.tls_ctx = tls_ctx.get();
  }

  Results total;
  if (procs == 1) {
    s.slots = d.concurrency;
    std::string error;
    auto scenario = MakeScenario(s, &error);
    if (!scenario) {
      std::cerr << "im-loadgen: " << error << std::endl;
      return 2;
    }
    total = RunLoad(d, *scenario);
  } else {
    std::string error;
    if (!MakeScenario(s, &error)) {  // check the options once, before forking
      std::cerr << "im-loadgen: " << error << std::endl;
      return 2;
    }
    if (!RunChildren(procs, d, s, &total)) total.seed_failures += 1;  // makes the exit status non-zero
  }
  RunInfo info{s.name, d.concurrency, d.rate, procs};
  std::string out = json ? FormatJson(info, total) : FormatText(info, total);
  fwrite(out.data(), 1, out.size(), stdout);
  return total.ok > 0 && total.seed_failures == 0 ? 0 : 1;
}
