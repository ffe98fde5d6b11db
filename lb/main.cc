// im-lb: parse options, run the balancer's loop until a signal.
#include <signal.h>
#include <sys/resource.h>
#include <uv.h>

#include "lb/balancer.h"
#include "lb/lb_log.h"
#include "lb/options.h"

int main(int argc, char** argv) {
  using namespace im::lb;
  signal(SIGPIPE, SIG_IGN);
  LbOptions options;
  if (int rc = ParseLbOptions(argc, argv, &options); rc != 0) return rc < 0 ? 0 : rc;
  SetQuiet(options.quiet);

  // Each pair holds two descriptors: keep --max-conns within the limit.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur != RLIM_INFINITY && static_cast<rlim_t>(options.max_conns) * 2 + 64 > limit.rlim_cur) {
      int fitted = static_cast<int>((limit.rlim_cur - 64) / 2);
      LbLog("--max-conns %d exceeds the descriptor limit; using %d", options.max_conns, fitted);
      options.max_conns = fitted < 1 ? 1 : fitted;
    }
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = 0;
  {
    Balancer balancer(&loop, options);
    std::string error;
    if (!balancer.Start(&error)) {
      LbLog("%s", error.c_str());
      balancer.Close();
      exit_code = 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  if (uv_loop_close(&loop) != 0) {
    LbLog("uv_loop_close: a handle was left open");
    exit_code = exit_code ? exit_code : 1;
  }
  return exit_code;
}
