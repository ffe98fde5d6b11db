// What each load scenario sends, and which reply proves the request was served right.
// No I/O: the driver asks for the next request of a slot and checks the reply with it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace im::loadgen {

struct Request {
  bool udp = false;          // a datagram to the presence port, else one TCP connection
  std::string bytes;         // what to send
  bool expect_reply = true;  // udp-set expects none
  std::string expect_prefix; // the reply must start with this (TCP), or
  int expect_buddies = -1;   // a GET reply must list exactly this many buddies (UDP)
  uint64_t pause_ms = 0;     // wait this long before sending (mixed: heartbeat pacing)
};

struct ScenarioOptions {
  std::string name;          // reg | add | udp-get | udp-set | mixed | raw
  std::string prefix;        // user-id prefix, so runs never collide
  int users = 100;           // population for add/udp-get/udp-set
  int buddies = 10;          // buddies per user for udp-get and mixed
  uint64_t interval_ms = 1000;  // mixed: each user's SET+GET period
  std::string raw_line;      // raw: the line to send ("\r\n" appended)
  std::string raw_expect;    // raw: the reply prefix
  int slots = 1;             // concurrency, so per-slot state can be laid out
};

class Scenario {
 public:
  virtual ~Scenario() = default;
  // TCP request lines to run before the clock starts (each must answer 200 or 201).
  virtual std::vector<std::string> SeedLines() { return {}; }
  virtual Request Next(int slot, uint64_t seq) = 0;
};

// nullptr (and *error set) for an unknown name or missing raw options.
std::unique_ptr<Scenario> MakeScenario(const ScenarioOptions& options, std::string* error);

// Checks a reply against what the request expected; on failure *why says how it differs.
bool ReplyMatches(const Request& request, const std::string& reply, std::string* why);

}  // namespace im::loadgen
