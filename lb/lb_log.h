// The balancer's console lines, in the project description's form ("[LB] ..."), one
// write(2) each. Per-connection lines can be switched off (--quiet) for load.
#pragma once

namespace im::lb {

void SetQuiet(bool quiet);
bool Quiet();
void LbLog(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace im::lb

// A per-connection line: skipped, arguments and all, under --quiet.
#define LB_CONN_LOG(...)                         \
  do {                                           \
    if (!::im::lb::Quiet()) ::im::lb::LbLog(__VA_ARGS__); \
  } while (0)
