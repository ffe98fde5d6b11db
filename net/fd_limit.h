// Each connection costs descriptors: raise the soft limit to the hard one and fit a
// connection cap below it, so a daemon pauses accepting before it runs out of them.
#pragma once

namespace im::net {

// Returns `wanted` connections, or fewer (at least 1) if `wanted * fds_per_connection +
// reserved_fds` exceeds the descriptor limit; logs a warning when it lowers the cap.
int FitConnectionsToFdLimit(int wanted, int fds_per_connection, int reserved_fds, const char* option_name);

}  // namespace im::net
