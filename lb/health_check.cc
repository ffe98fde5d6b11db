#include "lb/health_check.h"

#include "net/tls_stream.h"

#include <string_view>

namespace im::lb {

bool IsLocalError(int err) {
  switch (err) {
    case UV_EMFILE:         // out of descriptors (this process)
    case UV_ENFILE:         // out of descriptors (the system)
    case UV_ENOBUFS:        // out of socket buffers
    case UV_ENOMEM:
    case UV_EADDRNOTAVAIL:  // out of local ports
    case UV_EADDRINUSE:
    case UV_EAGAIN:
      return true;
    default:
      return false;
  }
}

HealthProbe::HealthProbe(uv_loop_t* loop, Owner& owner, int backend_index)
    : owner_(&owner),
      backend_index_(backend_index),
      timer_(loop, this, [](void* self) {
        auto* probe = static_cast<HealthProbe*>(self);
        probe->Finish(Outcome::kDown, "no reply to PING within " + std::to_string(probe->timeout_ms_) + " ms");
      }) {}

HealthProbe* HealthProbe::Start(uv_loop_t* loop, Owner& owner, int backend_index, const sockaddr* addr,
                                uint64_t timeout_ms, SSL_CTX* tls, const std::string& tls_name) {
  auto* probe = new HealthProbe(loop, owner, backend_index);
  probe->timeout_ms_ = timeout_ms;
  probe->stream_ = net::TcpStream::Connect(loop, addr, tls != nullptr ? nullptr : probe);
  if (tls != nullptr) {
    char ip[64] = "";
    if (tls_name.empty()) {
      uv_ip_name(addr, ip, sizeof ip);  // no --check-name: the certificate must name the backend's address
    }
    probe->stream_ = net::TlsStream::Connect(loop, probe->stream_, tls, tls_name.empty() ? ip : tls_name, probe);
  }
  probe->timer_.Start(timeout_ms);
  return probe;
}

void HealthProbe::OnStreamConnected(int status) {
  if (status != 0) return Finish(IsLocalError(status) ? Outcome::kUnknown : Outcome::kDown, uv_strerror(status));
  int rc = stream_->Write("PING\n");
  if (rc == 0) rc = stream_->ReadStart();
  if (rc != 0) Finish(IsLocalError(rc) ? Outcome::kUnknown : Outcome::kDown, uv_strerror(rc));
}

void HealthProbe::OnStreamRead(std::string_view bytes) {
  size_t end = bytes.find('\n');
  reply_.append(bytes.substr(0, std::min(end, kMaxReply - reply_.size())));
  if (end == std::string_view::npos) {
    if (reply_.size() >= kMaxReply) Finish(Outcome::kDown, "an over-long reply to PING");
    return;
  }
  if (!reply_.empty() && reply_.back() == '\r') reply_.pop_back();
  if (reply_.rfind("200", 0) == 0) return Finish(Outcome::kUp, "");
  Finish(Outcome::kDown, "PING answered \"" + reply_.substr(0, 32) + "\"");
}

void HealthProbe::Finish(Outcome outcome, const std::string& why) {
  Owner* owner = owner_;
  Cancel();
  if (owner != nullptr) owner->OnProbeDone(this, outcome, why);
}

void HealthProbe::Cancel() noexcept {
  owner_ = nullptr;
  timer_.Stop();
  stream_->Close();  // OnStreamClosed deletes
}

}  // namespace im::lb
