// im-server: parse options, open the store, run the loop until a signal.
#include <signal.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <uv.h>

#include "auth/keys.h"
#include "net/fd_limit.h"
#include "net/log.h"
#include "net/loop.h"
#include "server/options.h"
#include "server/redis_presence.h"
#include "server/server.h"
#include "server/store_config.h"

namespace {

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
  if (n > 0) IM_LOG(kNotice, "socket activation: %d socket(s) from systemd", n);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace im;
  signal(SIGPIPE, SIG_IGN);
  server::ServerOptions options;
  if (int rc = server::ParseServerOptions(argc, argv, &options); rc != 0) return rc < 0 ? 0 : rc;
  net::SetLogLevel(options.quiet ? net::LogLevel::kNotice : net::LogLevel::kInfo);
  // Each connection is a descriptor; 64 more for the database, its WAL, sockets, stdio.
  options.max_conns = net::FitConnectionsToFdLimit(options.max_conns, 1, 64, "--max-conns");
  if (!AdoptSystemdSockets(&options)) return 1;
  if (!auth::Init()) {
    IM_LOG(kError, "libsodium failed to start");
    return 1;
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = 0;
  {
    std::string error;
    auto store = server::OpenStore(&loop, options.store, &error);
    if (!store) {
      IM_LOG(kError, "%s", error.c_str());
      exit_code = 1;
    } else {
      IM_LOG(kNotice, "store %s", store->Describe().c_str());
      std::unique_ptr<server::RedisPresence> presence;
      if (!options.presence_url.empty()) {
        server::RedisAddress address;
        server::ParseRedisUrl(options.presence_url, &address, &error);  // checked with the options
        presence = std::make_unique<server::RedisPresence>(&loop, address, options.presence_ttl_ms);
        IM_LOG(kNotice, "presence %s", presence->Describe().c_str());
        presence->Start();  // a Redis that is down is retried; presence is soft state
      }
      server::Server server(&loop, options, *store, presence.get());
      if (!server.Start(&error)) {
        IM_LOG(kError, "%s", error.c_str());
        server.Close();
        exit_code = 1;
      }
      uv_run(&loop, UV_RUN_DEFAULT);
    }
  }
  if (int rc = net::FinishLoop(&loop); rc != 0) {
    IM_LOG(kError, "uv_loop_close: %s (a handle was left open)", uv_strerror(rc));
    exit_code = exit_code ? exit_code : 1;
  }
  if (exit_code == 0) IM_LOG(kNotice, "exited cleanly");
  return exit_code;
}
