// A real redis-server for a test, as a child process in its own temporary directory,
// listening on a unix socket there only (--port 0: no TCP port, so parallel tests never
// collide), with no persistence. A server that cannot start fails the test loudly; it is
// never skipped.
#pragma once

#include <memory>
#include <string>

#include "tests/support/process.h"

namespace im::test {

class Redis {
 public:
  // nullptr (and a test failure with its log) if it does not accept connections within 5 s.
  static std::unique_ptr<Redis> Start();
  ~Redis() = default;  // the Process member SIGKILLs it
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  void Kill();     // SIGKILL, waits for the exit: everything in it is gone
  bool Restart();  // starts again on the same socket (empty)
  void Pause(int sig) const { process_->Signal(sig); }  // SIGSTOP / SIGCONT: a Redis that hangs
  const std::string& socket() const { return socket_; }
  std::string Url() const { return "redis+unix://" + socket_; }
  // Runs redis-cli with `args` (shell words); its output in *out. False on failure.
  bool Cli(const std::string& args, std::string* out = nullptr) const;
  std::string Log() const { return process_ ? process_->Log() : ""; }

 private:
  Redis() = default;
  TempDir dir_;
  std::string socket_;
  std::unique_ptr<Process> process_;
};

}  // namespace im::test
