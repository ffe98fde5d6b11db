// The daemons' log: leveled lines on stderr, one write per line (lines from several
// processes sharing a terminal or a file never interleave mid-line), and never a stall:
// when stderr is a pipe, a terminal or a socket nobody reads, the line is dropped and
// counted instead of blocking the loop, and the count is reported once writing works
// again. Loop thread only; configured once at start-up.
#pragma once

#include <cstdint>

namespace im::net {

enum class LogLevel {
  kDebug = 0,
  kInfo = 1,    // per-request and per-connection lines
  kNotice = 2,  // start-up, state changes: still shown under --quiet
  kWarn = 3,
  kError = 4,
};

// Lines below `level` are dropped before they are formatted.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Without a tag a line is "2026-01-02T03:04:05.678Z INFO text"; with one (im-lb's "[LB]",
// the project description's console form) it is "[LB] text".
void SetLogTag(const char* tag);

// Where lines go (default: stderr). For tests, and set once before the first line.
void SetLogFd(int fd);

void LogWrite(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Lines dropped because the log could not take them without blocking.
uint64_t LogLinesDropped();

}  // namespace im::net

// Checks the level before formatting, so a dropped line costs one comparison.
#define IM_LOG(level, ...)                                                  \
  do {                                                                      \
    if (::im::net::LogEnabled(::im::net::LogLevel::level))                  \
      ::im::net::LogWrite(::im::net::LogLevel::level, __VA_ARGS__);         \
  } while (0)
