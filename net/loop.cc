#include "net/loop.h"

namespace im::net {

int FinishLoop(uv_loop_t* loop) {
  for (int i = 0; i < 16 && uv_loop_alive(loop); ++i) uv_run(loop, UV_RUN_NOWAIT);
  return uv_loop_close(loop);
}

}  // namespace im::net
