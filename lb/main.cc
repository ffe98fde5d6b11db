// im-lb: parse options, run the balancer's loop until a signal.
#include <signal.h>
#include <uv.h>

#include "lb/balancer.h"
#include "lb/options.h"
#include "net/fd_limit.h"
#include "net/log.h"
#include "net/loop.h"

int main(int argc, char** argv) {
  using namespace im;
  signal(SIGPIPE, SIG_IGN);
  net::SetLogTag("[LB]");  // the project description's console form
  lb::LbOptions options;
  if (int rc = lb::ParseLbOptions(argc, argv, &options); rc != 0) return rc < 0 ? 0 : rc;
  net::SetLogLevel(options.quiet ? net::LogLevel::kNotice : net::LogLevel::kInfo);
  // Each pair holds two descriptors; 64 more for the listener, probes and stdio.
  options.max_conns = net::FitConnectionsToFdLimit(options.max_conns, 2, 64, "--max-conns");

  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = 0;
  {
    lb::Balancer balancer(&loop, options);
    std::string error;
    if (!balancer.Start(&error)) {
      IM_LOG(kError, "%s", error.c_str());
      balancer.Close();
      exit_code = 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  if (net::FinishLoop(&loop) != 0) {
    IM_LOG(kError, "uv_loop_close: a handle was left open");
    exit_code = exit_code ? exit_code : 1;
  }
  return exit_code;
}
