// im-client as a child process whose stdin is a pipe or a pseudo-terminal the test
// writes to, for the client's integration tests.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace im::test {

// A client whose stdin is a pipe (or a terminal) the test writes to.
class ClientProc {
 public:
  ClientProc(const std::vector<std::string>& args, const std::string& log, bool pty = false,
             const std::vector<std::string>& env = {}) {
    int child_end = -1;
    if (pty) {
      master_ = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
      grantpt(master_);
      unlockpt(master_);
      child_end = open(ptsname(master_), O_RDWR | O_NOCTTY | O_CLOEXEC);
      write_fd_ = master_;
    } else {
      int fds[2];
      // Close-on-exec: no child may hold the write end, or end of input never comes.
      if (pipe2(fds, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe";
      child_end = fds[0];
      write_fd_ = fds[1];
    }
    std::vector<std::string> argv = {BinaryPath("IM_CLIENT")};
    argv.insert(argv.end(), args.begin(), args.end());
    process_ = Process::Start(argv, log, env, {{child_end, 0}});
    close(child_end);
  }
  ~ClientProc() {
    if (write_fd_ >= 0) close(write_fd_);
  }
  void Type(const std::string& text) { ASSERT_EQ(write(write_fd_, text.data(), text.size()), static_cast<ssize_t>(text.size())); }
  void Line(const std::string& line) { Type(line + "\n"); }
  void CloseInput() {
    close(write_fd_);
    write_fd_ = -1;
  }
  bool Saw(const std::string& text, int timeout_ms = 3000) { return process_->WaitForLog(Escape(text), timeout_ms).has_value(); }
  // On a terminal: what the line under the cursor shows now (the prompt and what is being
  // typed). Every redraw starts with "\r\x1b[K" and every printed line ends in "\r\n".
  std::string ScreenLine() const {
    std::string log = process_->Log();
    std::string line = log.substr(log.rfind('\n') == std::string::npos ? 0 : log.rfind('\n') + 1);
    if (size_t erase = line.rfind("\x1b[K"); erase != std::string::npos) line = line.substr(erase + 3);
    if (!line.empty() && line.front() == '\r') line.erase(0, 1);
    return line;
  }
  // Waits until the line under the cursor is exactly `prompt`.
  bool ShowsPrompt(const std::string& prompt, int timeout_ms = 3000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (ScreenLine() != prompt) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "the screen shows \"" << ScreenLine() << "\", not the prompt \"" << prompt << "\"";
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  Process& process() { return *process_; }

  static std::string Escape(const std::string& text) {
    std::string out;
    for (char c : text) {
      if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) out += '\\';
      out += c;
    }
    return out;
  }

 private:
  std::unique_ptr<Process> process_;
  int master_ = -1;
  int write_fd_ = -1;
};

}  // namespace im::test
