#include "net/check.h"

namespace im::net {

Check::Check(uv_loop_t* loop, void* owner, Callback callback) : owner_(owner), callback_(callback) {
  uv_check_init(loop, handle_.get());
  handle_->data = this;
}

Check::~Check() = default;  // handle_ closes itself

void Check::Start() { uv_check_start(handle_.get(), OnCheck); }

void Check::Stop() { uv_check_stop(handle_.get()); }

void Check::OnCheck(uv_check_t* handle) noexcept {
  auto* self = static_cast<Check*>(handle->data);
  if (self != nullptr) self->callback_(self->owner_);
}

}  // namespace im::net
