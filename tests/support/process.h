// Starts a real binary for a test and watches its log. The child's stdout and stderr go
// to a file, never to a pipe, so a chatty child can never block on a full pipe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace im::test {

// A temporary directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

class Process {
 public:
  // Starts argv (argv[0] is a path) with extra "NAME=value" environment entries, its
  // output appended to log_path, and each fd_map {from, to} duplicated as the child's fd
  // `to` (e.g. sockets handed over as fds 3 and 4). Aborts the test (returns nullptr) if it cannot start.
  static std::unique_ptr<Process> Start(const std::vector<std::string>& argv,
                                        const std::string& log_path,
                                        const std::vector<std::string>& env = {},
                                        const std::vector<std::pair<int, int>>& fd_map = {});
  ~Process();  // SIGKILLs the child if it still runs
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  std::string Log() const;  // everything the child wrote so far
  // Waits until the log matches `re`; returns the first capture group (or the whole
  // match). std::nullopt after timeout_ms or if the child exits first.
  std::optional<std::string> WaitForLog(const std::string& re, int timeout_ms) const;
  // Counts the log lines matching `re`.
  int CountLog(const std::string& re) const;
  void Signal(int sig) const;
  // Waits for exit; returns the exit code, 128+signal if killed by one, or -1 on timeout.
  int Wait(int timeout_ms);
  bool Running();

 private:
  Process(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  std::optional<int> status_;
};

// Runs `command` through /bin/sh, bounded: after timeout_s it is killed with everything it
// started (coreutils `timeout`, which signals the whole process group), and at most
// kMaxShellOutputBytes of its standard output are kept (the rest is read and dropped, so
// the command never blocks on a full pipe). That output, trailing newlines removed, goes
// to *out. Standard error is appended to the file `stderr_path`, or mixed into *out when
// that is empty. True if the command exited 0 within the time.
inline constexpr size_t kMaxShellOutputBytes = 1 << 20;
bool RunShell(const std::string& command, int timeout_s, std::string* out = nullptr,
              const std::string& stderr_path = "");
// `s` as one shell word (single-quoted, any ' inside escaped).
std::string ShellQuote(const std::string& s);

// Raises this process's descriptor limit to the hard limit (tests that open thousands of
// connections).
void RaiseFdLimit();

// Path of a built binary, from the environment variable meson sets (IM_SERVER, ...).
std::string BinaryPath(const char* env_name);

// A running im-server on loopback with ports picked by the kernel.
struct ServerHandle {
  std::unique_ptr<Process> process;
  int tcp_port = 0;
  int udp_port = 0;
};
// Starts im-server on `db_path` (none if empty: give --store in `extra`) with extra options; fails the test if it does not log its
// ports within 5 s. `tcp_port`/`udp_port` 0 lets the kernel choose.
ServerHandle StartServer(const std::string& db_path, const std::string& log_path,
                         const std::vector<std::string>& extra = {}, int tcp_port = 0,
                         int udp_port = 0);

}  // namespace im::test
