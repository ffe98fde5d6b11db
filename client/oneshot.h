// One-shot commands for scripts, as redis-cli runs one command: send one request, print
// the reply as-is, exit 0 on 200 (or a GET answered with a list), non-zero otherwise.
#pragma once

#include <uv.h>

#include "client/options.h"

namespace im::client {

// Runs options.command on `loop` until done; returns the exit code.
int RunOneShot(uv_loop_t* loop, const ClientOptions& options);

}  // namespace im::client
