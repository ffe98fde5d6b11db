#include "lb/health_check.h"

#include <string_view>

#include "net/address.h"
#include "net/tcp_stream.h"
#include "net/tls_stream.h"
#include "proto/reply.h"
#include "proto/request.h"
#include "proto/text.h"

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
      lines_(kMaxReply, *this),
      timer_(loop, this, [](void* self) {
        auto* probe = static_cast<HealthProbe*>(self);
        probe->Finish(Outcome::kDown, "no reply to PING within " + std::to_string(probe->timeout_ms_) + " ms");
      }) {}

HealthProbe* HealthProbe::Start(uv_loop_t* loop, Owner& owner, int backend_index, const sockaddr* addr,
                                uint64_t timeout_ms, SSL_CTX* tls, const std::string& tls_name) {
  auto* probe = new HealthProbe(loop, owner, backend_index);
  probe->timeout_ms_ = timeout_ms;
  net::Stream* stream = net::TcpStream::Connect(loop, addr, nullptr);
  if (tls != nullptr) {
    // No --check-name: the certificate must name the backend's address.
    stream = net::TlsStream::Connect(loop, stream, tls, tls_name.empty() ? net::FormatIp(addr) : tls_name, nullptr);
  }
  probe->lines_.Attach(stream);
  probe->timer_.Start(timeout_ms);
  return probe;
}

void HealthProbe::OnLinesConnected(int status) {
  if (status != 0) return Finish(IsLocalError(status) ? Outcome::kUnknown : Outcome::kDown, uv_strerror(status));
  int rc = lines_.Write(proto::FormatRequest({proto::Verb::kPing}));
  if (rc == 0) rc = lines_.StartReading();
  if (rc != 0) Finish(IsLocalError(rc) ? Outcome::kUnknown : Outcome::kDown, uv_strerror(rc));
}

void HealthProbe::OnLine(std::string_view line) {
  if (proto::ParseReply(line, proto::RepliesFor(proto::Verb::kPing)) == proto::Reply::kOk) {
    return Finish(Outcome::kUp, "");
  }
  Finish(Outcome::kDown, "PING answered \"" + proto::Printable(line.substr(0, 32)) + "\"");
}

void HealthProbe::Finish(Outcome outcome, const std::string& why) {
  Owner* owner = owner_;
  Cancel();
  if (owner != nullptr) owner->OnProbeDone(this, outcome, why);
}

void HealthProbe::Cancel() noexcept {
  owner_ = nullptr;
  timer_.Stop();
  lines_.Close();  // OnLinesClosed deletes
}

}  // namespace im::lb
