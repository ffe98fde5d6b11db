// im-client: the interactive client, or one request for scripts.
#include <signal.h>
#include <uv.h>

#include <iostream>

#include "auth/keys.h"
#include "client/app.h"
#include "client/oneshot.h"
#include "client/options.h"
#include "net/loop.h"

int main(int argc, char** argv) {
  using namespace im::client;
  signal(SIGPIPE, SIG_IGN);
  if (!im::auth::Init()) {  // the MACs of proofs
    std::cerr << "im-client: cannot start libsodium" << std::endl;
    return 1;
  }
  ClientOptions options;
  if (int rc = ParseClientOptions(argc, argv, &options); rc != 0) return rc < 0 ? 0 : rc;

  uv_loop_t loop;
  uv_loop_init(&loop);
  int exit_code = 0;
  if (!options.command.empty()) {
    exit_code = RunOneShot(&loop, options);
  } else {
    App app(&loop, options);
    if (int rc = app.Start(); rc != 0) {
      std::cerr << "im-client: cannot read standard input: " << uv_strerror(rc) << std::endl;
      return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    exit_code = app.exit_code();
  }  // objects destroyed here may close handles (timers): FinishLoop runs their callbacks
  if (im::net::FinishLoop(&loop) != 0) {
    std::cerr << "im-client: a handle was left open" << std::endl;
    return exit_code ? exit_code : 1;
  }
  return exit_code;
}
