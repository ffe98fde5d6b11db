#include "lb/health_check.h"

namespace im::lb {

HealthProbe::HealthProbe(uv_loop_t* loop, Owner& owner, int backend_index)
    : owner_(&owner),
      backend_index_(backend_index),
      timer_(loop, this, [](void* self) { static_cast<HealthProbe*>(self)->Finish(false); }) {}

HealthProbe* HealthProbe::Start(uv_loop_t* loop, Owner& owner, int backend_index, const sockaddr* addr,
                                uint64_t timeout_ms) {
  auto* probe = new HealthProbe(loop, owner, backend_index);
  probe->stream_ = net::TcpStream::Connect(loop, addr, probe);
  probe->timer_.Start(timeout_ms);
  return probe;
}

void HealthProbe::Finish(bool up) {
  Owner* owner = owner_;
  Cancel();
  if (owner != nullptr) owner->OnProbeDone(this, up);
}

void HealthProbe::Cancel() noexcept {
  owner_ = nullptr;
  timer_.Stop();
  stream_->Close();  // OnStreamClosed deletes
}

}  // namespace im::lb
