// Leveled log lines on stderr, one write(2) per line so lines from several processes
// sharing a terminal or file never interleave mid-line. Loop thread only.
#pragma once

namespace im::server {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Lines below `level` are dropped. --quiet sets kWarn. Set once at start-up.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void LogWrite(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace im::server

// Checks the level before formatting, so a dropped line costs one comparison.
#define IM_LOG(level, ...)                                                         \
  do {                                                                             \
    if (::im::server::LogEnabled(::im::server::LogLevel::level))                   \
      ::im::server::LogWrite(::im::server::LogLevel::level, __VA_ARGS__);          \
  } while (0)
