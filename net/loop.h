// The end of a daemon's loop, the same in every main().
#pragma once

#include <uv.h>

namespace im::net {

// Runs the close callbacks of handles closed after uv_run returned (objects destroyed at
// the end of main's scope), then closes the loop. Bounded: a handle still active is a
// bug, reported by the non-zero return (uv_loop_close's UV_EBUSY), never a hang.
int FinishLoop(uv_loop_t* loop);

}  // namespace im::net
