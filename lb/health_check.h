// One health probe, speaking the protocol: connect, send "PING\n", and expect a "200"
// reply line, all within --check-timeout. A backend whose process is stopped or whose
// loop is stuck still completes the TCP handshake (the kernel does that), so only the
// reply line shows that it is alive. The balancer starts at most one probe per backend
// per --check-interval and hears the outcome once. Deleted once its stream has closed.
// Loop thread only.
#pragma once

#include <uv.h>

#include <string>

#include <openssl/ssl.h>

#include "net/line_stream.h"
#include "net/timer.h"

namespace im::lb {

// A connect error that says something about this process (out of descriptors, ports or
// buffers), not about the backend: it never marks a backend down.
bool IsLocalError(int err);

class HealthProbe final : private net::LineStream::Handler {
 public:
  enum class Outcome {
    kUp,       // answered "200 ..." in time
    kDown,     // refused, reset, closed, answered otherwise, or silent past the timeout
    kUnknown,  // a local error (IsLocalError) kept the probe from asking
  };

  class Owner {
   public:
    // `why` says what went wrong for kDown and kUnknown.
    virtual void OnProbeDone(HealthProbe* probe, Outcome outcome, const std::string& why) = 0;

   protected:
    ~Owner() = default;
  };

  // With `tls` the probe does a TLS handshake (verifying `tls_name`) before its PING, so
  // a --tls-only backend is probed in the language it speaks.
  static HealthProbe* Start(uv_loop_t* loop, Owner& owner, int backend_index, const sockaddr* addr,
                            uint64_t timeout_ms, SSL_CTX* tls = nullptr, const std::string& tls_name = "");
  HealthProbe(const HealthProbe&) = delete;
  HealthProbe& operator=(const HealthProbe&) = delete;
  // Abandons the probe: the owner hears nothing more.
  void Cancel() noexcept;
  int backend_index() const { return backend_index_; }

 private:
  static constexpr size_t kMaxReply = 64;  // a reply line is far shorter; more is not one

  HealthProbe(uv_loop_t* loop, Owner& owner, int backend_index);
  ~HealthProbe() = default;
  void Finish(Outcome outcome, const std::string& why);
  // net::LineStream::Handler
  void OnLinesConnected(int status) override;
  void OnLine(std::string_view line) override;
  void OnLineTooLong() override { Finish(Outcome::kDown, "an over-long reply to PING"); }
  void OnLinesEnd(std::string_view) override { Finish(Outcome::kDown, "closed without a reply to PING"); }
  void OnLinesError(int err) override { Finish(Outcome::kDown, uv_strerror(err)); }
  void OnLinesClosed() override { delete this; }

  Owner* owner_;
  int backend_index_;
  uint64_t timeout_ms_ = 0;
  net::LineStream lines_;  // over TCP, or TLS over it (--check-tls)
  net::Timer timer_;
};

}  // namespace im::lb
