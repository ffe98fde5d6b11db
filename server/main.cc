// im-server: parse options, open the database, run the loop until a signal.
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <uv.h>

#include "server/log.h"
#include "server/options.h"
#include "server/server.h"
#include "server/store.h"

namespace {

// Each connection is a descriptor: raise the soft limit to the hard one, and keep
// --max-conns below it so accepting pauses before the process runs out of descriptors.
void FitConnectionsToFdLimit(int* max_conns) {
  constexpr int kReservedFds = 64;  // database, WAL, sockets, stdio
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  if (limit.rlim_cur != RLIM_INFINITY &&
      static_cast<rlim_t>(*max_conns) + kReservedFds > limit.rlim_cur) {
    int fitted = static_cast<int>(limit.rlim_cur) - kReservedFds;
    IM_LOG(kWarn, "--max-conns %d exceeds the descriptor limit %llu; using %d", *max_conns,
           static_cast<unsigned long long>(limit.rlim_cur), fitted);
    *max_conns = fitted < 1 ? 1 : fitted;
  }
}

// Socket activation: systemd passes the sockets of im-server.socket as fds 3, 4, ...
// Returns false (with a message) if what was passed is not one TCP listener and/or one
// UDP socket.
bool AdoptSystemdSockets(im::server::ServerOptions* options) {
  int n = sd_listen_fds(1);  // 1: unset LISTEN_* so children don't inherit them
  if (n < 0) {
    IM_LOG(kError, "sd_listen_fds: %s", strerror(-n));
    return false;
  }
  for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; ++fd) {
    if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) > 0 && options->inherited_tcp_fd < 0) {
      options->inherited_tcp_fd = fd;
    } else if (sd_is_socket(fd, AF_UNSPEC, SOCK_DGRAM, -1) > 0 && options->inherited_udp_fd < 0) {
      options->inherited_udp_fd = fd;
    } else {
      IM_LOG(kError, "socket activation: fd %d is neither a listening TCP socket nor a UDP socket", fd);
      return false;
    }
  }
  if (n > 0) {
    IM_LOG(kInfo, "socket activation: %d socket(s) from systemd", n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace im::server;
  signal(SIGPIPE, SIG_IGN);
  ServerOptions options;
  if (int rc = ParseServerOptions(argc, argv, &options); rc != 0) return rc < 0 ? 0 : rc;
  SetLogLevel(options.quiet ? LogLevel::kWarn : LogLevel::kInfo);
  FitConnectionsToFdLimit(&options.max_conns);
  if (!AdoptSystemdSockets(&options)) return 1;

  std::string error;
  auto store = Store::Open({options.db_path, options.sync_full, options.max_users, options.cache_mib}, &error);
  if (!store) {
    IM_LOG(kError, "%s", error.c_str());
    return 1;
  }
  IM_LOG(kInfo, "database %s (synchronous=%s)", options.db_path.c_str(),
         options.sync_full ? "FULL" : "NORMAL");

  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = 0;
  {
    Server server(&loop, options, *store);
    if (!server.Start(&error)) {
      IM_LOG(kError, "%s", error.c_str());
      server.Close();
      exit_code = 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  if (int rc = uv_loop_close(&loop); rc != 0) {
    IM_LOG(kError, "uv_loop_close: %s (a handle was left open)", uv_strerror(rc));
    exit_code = exit_code ? exit_code : 1;
  }
  if (exit_code == 0) IM_LOG(kInfo, "exited cleanly");
  return exit_code;
}
