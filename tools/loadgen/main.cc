// im-loadgen: drives im-server, im-lb or any line server with a real protocol load and
// reports throughput, latency percentiles and errors by kind. Always stops by itself.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <iostream>
#include <sstream>

#include "proto/address.h"
#include "tools/loadgen/driver.h"

namespace {

using namespace im::loadgen;

bool Resolve(const std::string& text, sockaddr_storage* addr) {
  im::proto::HostPort hp;
  if (!im::proto::SplitHostPort(text, "127.0.0.1", &hp)) return false;
  int port = static_cast<int>(hp.port);
  return uv_ip4_addr(hp.host.c_str(), port, reinterpret_cast<sockaddr_in*>(addr)) == 0 ||
         uv_ip6_addr(hp.host.c_str(), port, reinterpret_cast<sockaddr_in6*>(addr)) == 0;
}

// Results cross from a --procs child to the parent as text lines.
std::string Serialize(const Results& r) {
  std::ostringstream out;
  out << "totals " << r.ok << " " << r.failed << " " << r.seconds << " " << r.seed_failures << " "
      << r.latency.count() << " " << r.latency.max() << "\n";
  for (size_t i = 0; i < r.latency.buckets().size(); ++i) {
    if (r.latency.buckets()[i]) out << "b " << i << " " << r.latency.buckets()[i] << "\n";
  }
  for (auto& [kind, n] : r.errors) out << "e " << n << "\t" << kind << "\t" << (r.samples.count(kind) ? r.samples.at(kind) : "") << "\n";
  return out.str();
}

void Merge(const std::string& text, Results* into) {
  std::istringstream in(text);
  std::string tag;
  Histogram h;
  while (in >> tag) {
    if (tag == "totals") {
      uint64_t ok, failed, seed, count, max;
      double secs;
      in >> ok >> failed >> secs >> seed >> count >> max;
      into->ok += ok;
      into->failed += failed;
      into->seconds = std::max(into->seconds, secs);
      into->seed_failures += seed;
      h.set_totals(count, max);
    } else if (tag == "b") {
      size_t i;
      uint64_t n;
      in >> i >> n;
      if (i < h.mutable_buckets().size()) h.mutable_buckets()[i] = n;
    } else if (tag == "e") {
      uint64_t n;
      in >> n;
      in.get();
      std::string kind, sample;
      std::getline(in, kind, '\t');
      std::getline(in, sample);
      into->errors[kind] += n;
      if (!sample.empty()) into->samples[kind] = sample;
    }
  }
  into->latency.Add(h);
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

void Report(const std::string& scenario, int concurrency, double rate, const Results& r, bool json) {
  double rps = r.seconds > 0 ? static_cast<double>(r.ok) / r.seconds : 0;
  auto ms = [&](double q) { return static_cast<double>(r.latency.Percentile(q)) / 1000.0; };
  double max_ms = static_cast<double>(r.latency.max()) / 1000.0;
  if (json) {
    printf("{\"scenario\":\"%s\",\"concurrency\":%d,\"rate\":%.0f,\"ok\":%llu,\"failed\":%llu,\"seconds\":%.3f,"
           "\"rps\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f,"
           "\"seed_failures\":%llu,\"errors\":{",
           scenario.c_str(), concurrency, rate, static_cast<unsigned long long>(r.ok),
           static_cast<unsigned long long>(r.failed), r.seconds, rps, ms(0.5), ms(0.9), ms(0.99), ms(0.999), max_ms,
           static_cast<unsigned long long>(r.seed_failures));
    bool first = true;
    for (auto& [kind, n] : r.errors) {
      printf("%s\"%s\":%llu", first ? "" : ",", JsonEscape(kind).c_str(), static_cast<unsigned long long>(n));
      first = false;
    }
    printf("},\"samples\":{");
    first = true;
    for (auto& [kind, s] : r.samples) {
      printf("%s\"%s\":\"%s\"", first ? "" : ",", JsonEscape(kind).c_str(), JsonEscape(s).c_str());
      first = false;
    }
    printf("}}\n");
    return;
  }
  printf("scenario %s: %llu ok in %.2f s = %.0f req/s (%s)\n", scenario.c_str(), static_cast<unsigned long long>(r.ok),
         r.seconds, rps, rate > 0 ? ("open loop, " + std::to_string(static_cast<long>(rate)) + " req/s offered").c_str()
                                  : ("closed loop, concurrency " + std::to_string(concurrency)).c_str());
  printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", ms(0.5), ms(0.9), ms(0.99), ms(0.999), max_ms);
  if (r.errors.empty()) {
    printf("errors: none\n");
  } else {
    for (auto& [kind, n] : r.errors) {
      printf("errors: %s: %llu%s\n", kind.c_str(), static_cast<unsigned long long>(n),
             r.samples.count(kind) && !r.samples.at(kind).empty() ? (" (sample: " + r.samples.at(kind) + ")").c_str() : "");
    }
  }
  if (r.seed_failures) printf("seeding: %llu requests failed\n", static_cast<unsigned long long>(r.seed_failures));
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  cxxopts::Options options("im-loadgen", "Load generator for im-server, im-lb and line servers (loopback only).");
  // clang-format off
  options.add_options()
    ("scenario", "reg | add | udp-get | udp-set | mixed | raw", cxxopts::value<std::string>()->default_value("reg"))
    ("tcp", "TCP target HOST:PORT (im-server, im-lb, or a raw line server)", cxxopts::value<std::string>()->default_value("127.0.0.1:5001"))
    ("udp", "UDP presence target HOST:PORT", cxxopts::value<std::string>()->default_value("127.0.0.1:1235"))
    ("c,concurrency", "Requests in flight at once", cxxopts::value<int>()->default_value("16"))
    ("rate", "Open loop: requests per second offered (0: closed loop)", cxxopts::value<double>()->default_value("0"))
    ("duration", "Seconds to measure (after warmup)", cxxopts::value<double>()->default_value("5"))
    ("requests", "Stop after this many measured requests instead", cxxopts::value<uint64_t>()->default_value("0"))
    ("warmup", "Seconds to run before measuring", cxxopts::value<double>()->default_value("0"))
    ("timeout", "Seconds before a request counts as timed out", cxxopts::value<double>()->default_value("2"))
    ("users", "Users in the population (add, udp-get, udp-set)", cxxopts::value<int>()->default_value("100"))
    ("buddies", "Buddies per user (udp-get, mixed)", cxxopts::value<int>()->default_value("10"))
    ("interval", "mixed: seconds between a user's heartbeats", cxxopts::value<double>()->default_value("1"))
    ("line", "raw: the line to send", cxxopts::value<std::string>()->default_value(""))
    ("expect", "raw: the reply prefix that counts as success", cxxopts::value<std::string>()->default_value(""))
    ("prefix", "User-id prefix (default: unique per run)", cxxopts::value<std::string>()->default_value(""))
    ("procs", "Fork this many load processes (each its own loop)", cxxopts::value<int>()->default_value("1"))
    ("json", "One JSON object instead of text")
    ("h,help", "Show this help");
  // clang-format on
  DriverOptions d;
  ScenarioOptions s;
  int procs = 1;
  bool json = false;
  try {
    auto r = options.parse(argc, argv);
    if (r.count("help")) {
      std::cout << options.help() << std::endl;
      return 0;
    }
    s.name = r["scenario"].as<std::string>();
    if (!Resolve(r["tcp"].as<std::string>(), &d.tcp) || !Resolve(r["udp"].as<std::string>(), &d.udp)) {
      throw std::invalid_argument("--tcp/--udp must be numeric HOST:PORT");
    }
    d.concurrency = r["concurrency"].as<int>();
    d.rate = r["rate"].as<double>();
    d.duration_ms = static_cast<uint64_t>(r["duration"].as<double>() * 1000);
    d.requests = r["requests"].as<uint64_t>();
    d.warmup_ms = static_cast<uint64_t>(r["warmup"].as<double>() * 1000);
    d.timeout_ms = static_cast<uint64_t>(r["timeout"].as<double>() * 1000);
    s.users = r["users"].as<int>();
    s.buddies = r["buddies"].as<int>();
    s.interval_ms = static_cast<uint64_t>(r["interval"].as<double>() * 1000);
    s.raw_line = r["line"].as<std::string>();
    s.raw_expect = r["expect"].as<std::string>();
    s.prefix = r["prefix"].as<std::string>();
    procs = r["procs"].as<int>();
    json = r.count("json") > 0;
    if (d.concurrency < 1 || d.concurrency > 10000 || procs < 1 || procs > 64 || s.users < 1 || s.buddies < 0 ||
        d.timeout_ms == 0 || (d.duration_ms == 0 && d.requests == 0) || d.duration_ms > 3600000) {
      throw std::invalid_argument("out-of-range option (concurrency 1-10000, procs 1-64, duration up to 1 h)");
    }
  } catch (const std::exception& e) {
    std::cerr << "im-loadgen: " << e.what() << "\n(try im-loadgen --help)" << std::endl;
    return 2;
  }
  if (s.prefix.empty()) s.prefix = "L" + std::to_string(getpid() % 100000) + "x" + std::to_string(time(nullptr) % 100000) + "_";
  d.progress = isatty(STDERR_FILENO) && !json;

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
    // Each child gets its share and its own users; results come back over a pipe.
    std::vector<std::pair<pid_t, int>> children;
    for (int p = 0; p < procs; ++p) {
      int fds[2];
      if (pipe(fds) != 0) return 1;
      pid_t pid = fork();
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
        ssize_t ignored = write(fds[1], out.data(), out.size());
        (void)ignored;
        _exit(0);
      }
      close(fds[1]);
      children.emplace_back(pid, fds[0]);
    }
    for (auto [pid, fd] : children) {
      std::string text;
      char buf[65536];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
      close(fd);
      waitpid(pid, nullptr, 0);
      Merge(text, &total);
    }
  }
  Report(s.name, d.concurrency, d.rate, total, json);
  return total.ok > 0 && total.seed_failures == 0 ? 0 : 1;
}
