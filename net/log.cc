#include "net/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

namespace im::net {
namespace {

// The process-wide log settings, fixed at start-up (one loop per process).
struct LogState {
  LogLevel min_level = LogLevel::kInfo;
  const char* tag = nullptr;
  int target_fd = STDERR_FILENO;
  // How lines are written, chosen on the first line.
  enum class Writer { kUnset, kBlocking, kNonBlockingFd, kSocket } writer = Writer::kUnset;
  int fd = -1;            // the descriptor lines are written to
  uint64_t dropped = 0;   // lines lost to a full pipe/terminal/socket
  uint64_t reported = 0;  // of those, already reported
};
LogState g_log;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kNotice: return "NOTICE";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}

// A regular file never blocks for long. A socket (journald) takes MSG_DONTWAIT. A pipe or
// a terminal is reopened through /proc with O_NONBLOCK: a new open file description, so
// the flag does not leak to the shell or other processes sharing the original one.
void ChooseWriter() {
  g_log.fd = g_log.target_fd;
  g_log.writer = LogState::Writer::kBlocking;
  struct stat st;
  if (fstat(g_log.target_fd, &st) != 0 || S_ISREG(st.st_mode)) return;
  if (S_ISSOCK(st.st_mode)) {
    g_log.writer = LogState::Writer::kSocket;
    return;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", g_log.target_fd);
  int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd >= 0) {
    g_log.fd = fd;
    g_log.writer = LogState::Writer::kNonBlockingFd;
  }
}

// One attempt, never waiting: false if the line could not be written whole.
bool WriteLine(const char* line, size_t len) {
  ssize_t n;
  if (g_log.writer == LogState::Writer::kSocket) {
    n = send(g_log.fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) {  // not a socket after all: plain write
      g_log.writer = LogState::Writer::kBlocking;
      n = write(g_log.fd, line, len);
    }
  } else {
    n = write(g_log.fd, line, len);
  }
  // Lines are under PIPE_BUF, so a pipe takes each whole or not at all.
  return n == static_cast<ssize_t>(len);
}

}  // namespace

void SetLogLevel(LogLevel level) { g_log.min_level = level; }
bool LogEnabled(LogLevel level) { return level >= g_log.min_level; }
void SetLogTag(const char* tag) { g_log.tag = tag; }
uint64_t LogLinesDropped() { return g_log.dropped; }

void SetLogFd(int fd) {
  if (g_log.writer == LogState::Writer::kNonBlockingFd) close(g_log.fd);
  g_log.target_fd = fd;
  g_log.writer = LogState::Writer::kUnset;
}

void LogWrite(LogLevel level, const char* fmt, ...) {
  if (g_log.writer == LogState::Writer::kUnset) ChooseWriter();
  char line[1024];
  int n;
  if (g_log.tag != nullptr) {
    n = snprintf(line, sizeof line, "%s ", g_log.tag);
  } else {
    timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    tm utc;
    gmtime_r(&now.tv_sec, &utc);
    n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", utc.tm_year + 1900,
                 utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, now.tv_nsec / 1000000,
                 LevelName(level));
  }
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - static_cast<size_t>(n) - 1, fmt, ap);
  va_end(ap);
  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : static_cast<size_t>(m));
  if (len > sizeof line - 2) len = sizeof line - 2;  // truncated
  line[len++] = '\n';
  if (g_log.dropped > g_log.reported) {
    char note[128];
    int k = snprintf(note, sizeof note, "%s%llu log lines dropped (the log output was full)\n",
                     g_log.tag ? g_log.tag : "log: ", static_cast<unsigned long long>(g_log.dropped - g_log.reported));
    if (k > 0 && WriteLine(note, static_cast<size_t>(k))) {
      g_log.reported = g_log.dropped;
    } else {
      ++g_log.dropped;
      return;
    }
  }
  if (!WriteLine(line, len)) ++g_log.dropped;
}

}  // namespace im::net
