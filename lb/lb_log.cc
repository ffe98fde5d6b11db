#include "lb/lb_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

namespace im::lb {
namespace {
bool g_quiet = false;  // fixed at start-up
}

void SetQuiet(bool quiet) { g_quiet = quiet; }
bool Quiet() { return g_quiet; }

void LbLog(const char* fmt, ...) {
  char line[512] = "[LB] ";
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line + 5, sizeof line - 6, fmt, ap);
  va_end(ap);
  size_t len = 5 + (n < 0 ? 0 : static_cast<size_t>(n));
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  ssize_t ignored = write(STDERR_FILENO, line, len);
  (void)ignored;
}

}  // namespace im::lb
