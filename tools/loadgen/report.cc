#include "tools/loadgen/report.h"

#include <cstdio>
#include <sstream>

namespace im::loadgen {
namespace {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += esc;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Kinds and samples travel in tab-separated lines: keep them to one line each.
std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s;
}

double Ms(uint64_t us) { return static_cast<double>(us) / 1000.0; }

double Rps(const Results& r) { return r.seconds > 0 ? static_cast<double>(r.ok) / r.seconds : 0; }

std::string Fixed(double v, int decimals) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

std::string FormatText(const RunInfo& info, const Results& r) {
  std::string mode = info.rate > 0 ? "open loop, " + Fixed(info.rate, 0) + " req/s offered"
                                   : "closed loop, concurrency " + std::to_string(info.concurrency);
  if (info.procs > 1) mode += ", " + std::to_string(info.procs) + " processes";
  std::string out = "scenario " + info.scenario + ": " + std::to_string(r.ok) + " ok in " + Fixed(r.seconds, 2) +
                    " s = " + Fixed(Rps(r), 0) + " req/s (" + mode + ")\n";
  const Histogram& h = r.latency;
  out += "latency ms: p50 " + Fixed(Ms(h.Percentile(0.5)), 3) + "  p90 " + Fixed(Ms(h.Percentile(0.9)), 3) +
         "  p99 " + Fixed(Ms(h.Percentile(0.99)), 3) + "  p99.9 " + Fixed(Ms(h.Percentile(0.999)), 3) + "  max " +
         Fixed(Ms(h.max()), 3) + "\n";
  if (r.errors.empty()) out += "errors: none\n";
  for (auto& [kind, n] : r.errors) {
    out += "errors: " + kind + ": " + std::to_string(n);
    auto it = r.samples.find(kind);
    if (it != r.samples.end() && !it->second.empty()) out += " (sample: " + it->second + ")";
    out += "\n";
  }
  if (r.tls_handshakes > 0) {
    out += "tls: " + std::to_string(r.tls_handshakes) + " handshakes, " + std::to_string(r.tls_resumed) + " resumed\n";
  }
  if (r.seed_failures) {
    out += "seeding: " + std::to_string(r.seed_failures) + " requests failed";
    auto it = r.samples.find("seeding");
    if (it != r.samples.end()) out += " (sample: " + it->second + ")";
    out += "\n";
  }
  return out;
}

std::string FormatJson(const RunInfo& info, const Results& r) {
  const Histogram& h = r.latency;
  std::string out = "{\"scenario\":" + JsonString(info.scenario) + ",\"concurrency\":" + std::to_string(info.concurrency) +
                    ",\"rate\":" + Fixed(info.rate, 0) + ",\"procs\":" + std::to_string(info.procs) +
                    ",\"ok\":" + std::to_string(r.ok) + ",\"failed\":" + std::to_string(r.failed) +
                    ",\"seconds\":" + Fixed(r.seconds, 3) + ",\"rps\":" + Fixed(Rps(r), 1) +
                    ",\"p50_ms\":" + Fixed(Ms(h.Percentile(0.5)), 3) + ",\"p90_ms\":" + Fixed(Ms(h.Percentile(0.9)), 3) +
                    ",\"p99_ms\":" + Fixed(Ms(h.Percentile(0.99)), 3) + ",\"p999_ms\":" + Fixed(Ms(h.Percentile(0.999)), 3) +
                    ",\"max_ms\":" + Fixed(Ms(h.max()), 3) + ",\"seed_failures\":" + std::to_string(r.seed_failures) +
                    ",\"tls_handshakes\":" + std::to_string(r.tls_handshakes) + ",\"tls_resumed\":" + std::to_string(r.tls_resumed) +
                    ",\"errors\":{";
  bool first = true;
  for (auto& [kind, n] : r.errors) {
    out += (first ? "" : ",") + JsonString(kind) + ":" + std::to_string(n);
    first = false;
  }
  out += "},\"samples\":{";
  first = true;
  for (auto& [kind, s] : r.samples) {
    out += (first ? "" : ",") + JsonString(kind) + ":" + JsonString(s);
    first = false;
  }
  return out + "}}\n";
}

std::string Serialize(const Results& r) {
  std::ostringstream out;
  out << "totals " << r.ok << " " << r.failed << " " << Fixed(r.seconds, 6) << " " << r.seed_failures << " "
      << r.latency.count() << " " << r.latency.max() << "\n";
  if (r.tls_handshakes > 0) out << "tls " << r.tls_handshakes << " " << r.tls_resumed << "\n";
  for (size_t i = 0; i < r.latency.buckets().size(); ++i) {
    if (r.latency.buckets()[i]) out << "b " << i << " " << r.latency.buckets()[i] << "\n";
  }
  for (auto& [kind, n] : r.errors) out << "e " << n << "\t" << OneLine(kind) << "\n";
  for (auto& [kind, s] : r.samples) out << "s\t" << OneLine(kind) << "\t" << OneLine(s) << "\n";
  return out.str();
}

bool Merge(const std::string& text, Results* into) {
  std::istringstream in(text);
  std::string tag;
  Histogram h;
  bool saw_totals = false;
  while (in >> tag) {
    if (tag == "totals") {
      uint64_t ok, failed, seed, count, max;
      double secs;
      if (!(in >> ok >> failed >> secs >> seed >> count >> max)) return false;
      into->ok += ok;
      into->failed += failed;
      into->seconds = std::max(into->seconds, secs);
      into->seed_failures += seed;
      h.set_totals(count, max);
      saw_totals = true;
    } else if (tag == "tls") {
      uint64_t handshakes, resumed;
      if (!(in >> handshakes >> resumed)) return false;
      into->tls_handshakes += handshakes;
      into->tls_resumed += resumed;
    } else if (tag == "b") {
      size_t i;
      uint64_t n;
      if (!(in >> i >> n) || i >= h.mutable_buckets().size()) return false;
      h.mutable_buckets()[i] = n;
    } else if (tag == "e") {
      uint64_t n;
      std::string kind;
      if (!(in >> n)) return false;
      in.get();  // the tab
      std::getline(in, kind);
      into->errors[kind] += n;
    } else if (tag == "s") {
      std::string kind, sample;
      std::getline(in, kind, '\t');  // the empty field after the tag
      std::getline(in, kind, '\t');
      std::getline(in, sample);
      if (!into->samples.count(kind)) into->samples[kind] = sample;
    } else {
      return false;
    }
  }
  into->latency.Add(h);
  return saw_totals;
}

}  // namespace im::loadgen
