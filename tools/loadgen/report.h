// How im-loadgen's results leave the process: the text report, the --json object, and
// the line format a --procs child sends its parent (Serialize / Merge). No I/O.
#pragma once

#include <string>

#include "tools/loadgen/driver.h"

namespace im::loadgen {

struct RunInfo {
  std::string scenario;
  int concurrency = 0;
  double rate = 0;  // 0: closed loop
  int procs = 1;
};

// Human-readable: rate, latency percentiles in ms, errors by kind with one sample each.
std::string FormatText(const RunInfo& info, const Results& results);
// One JSON object on one line (ends in "\n"), fields as in FormatText.
std::string FormatJson(const RunInfo& info, const Results& results);

// Results as text lines, and back: Merge adds them into *into (counts and histograms
// sum, the measuring time is the longest). Returns false if the text is not well formed.
std::string Serialize(const Results& results);
bool Merge(const std::string& text, Results* into);

}  // namespace im::loadgen
