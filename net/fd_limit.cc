#include "net/fd_limit.h"

#include <sys/resource.h>

#include "net/log.h"

namespace im::net {

int FitConnectionsToFdLimit(int wanted, int fds_per_connection, int reserved_fds, const char* option_name) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return wanted;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur == RLIM_INFINITY) return wanted;
  auto need = static_cast<rlim_t>(wanted) * static_cast<rlim_t>(fds_per_connection) + static_cast<rlim_t>(reserved_fds);
  if (need <= limit.rlim_cur) return wanted;
  long fitted = (static_cast<long>(limit.rlim_cur) - reserved_fds) / fds_per_connection;
  if (fitted < 1) fitted = 1;
  IM_LOG(kWarn, "%s %d exceeds the descriptor limit %llu; using %ld", option_name, wanted,
         static_cast<unsigned long long>(limit.rlim_cur), fitted);
  return static_cast<int>(fitted);
}

}  // namespace im::net
