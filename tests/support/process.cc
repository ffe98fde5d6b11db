#include "tests/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

extern char** environ;

namespace im::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "im-test-XXXXXX").string();
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return;
  }
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) std::filesystem::remove_all(path_, ec);
}

std::unique_ptr<Process> Process::Start(const std::vector<std::string>& argv,
                                        const std::string& log_path,
                                        const std::vector<std::string>& env,
                                        const std::vector<std::pair<int, int>>& fd_map) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  for (auto [from, to] : fd_map) posix_spawn_file_actions_adddup2(&actions, from, to);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const auto& e : env) env_strings.push_back(e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << strerror(rc);
    return nullptr;
  }
  return std::unique_ptr<Process>(new Process(pid, log_path));
}

Process::~Process() {
  if (Running()) {
    kill(pid_, SIGKILL);
    Wait(5000);
  }
}

std::string Process::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> Process::WaitForLog(const std::string& re, int timeout_ms) const {
  std::regex pattern(re);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    std::string log = Log();
    std::smatch m;
    if (std::regex_search(log, m, pattern)) return m.size() > 1 ? m[1].str() : m[0].str();
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int Process::CountLog(const std::string& re) const {
  std::regex pattern(re);
  std::string log = Log();
  return static_cast<int>(std::distance(std::sregex_iterator(log.begin(), log.end(), pattern),
                                        std::sregex_iterator()));
}

void Process::Signal(int sig) const { kill(pid_, sig); }

bool Process::Running() {
  if (status_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

int Process::Wait(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return *status_;
}

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

bool RunShell(const std::string& command, int timeout_s, std::string* out, const std::string& stderr_path) {
  std::string full = "timeout -k 2 " + std::to_string(timeout_s) + " /bin/sh -c " + ShellQuote(command) +
                     (stderr_path.empty() ? " 2>&1" : " 2>>" + ShellQuote(stderr_path));
  FILE* p = popen(full.c_str(), "r");
  if (p == nullptr) return false;
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    text.append(buf, std::min(n, kMaxShellOutputBytes - text.size()));
  }
  int status = pclose(p);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (out != nullptr) *out = std::move(text);
  return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void RaiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

std::string BinaryPath(const char* env_name) {
  const char* path = std::getenv(env_name);
  if (path == nullptr) {
    ADD_FAILURE() << env_name << " is not set; run the tests through meson test";
    return "/nonexistent";
  }
  return path;
}

ServerHandle StartServer(const std::string& db_path, const std::string& log_path,
                         const std::vector<std::string>& extra, int tcp_port, int udp_port) {
  std::vector<std::string> argv = {BinaryPath("IM_SERVER"), "--tcp-port", std::to_string(tcp_port),
                                   "--udp-port", std::to_string(udp_port)};
  if (!db_path.empty()) argv.insert(argv.end(), {"--db", db_path});
  argv.insert(argv.end(), extra.begin(), extra.end());
  // Each start appends to the log; look for this start's lines only.
  std::string before;
  {
    std::ifstream in(log_path);
    std::stringstream ss;
    ss << in.rdbuf();
    before = ss.str();
  }
  ServerHandle server;
  server.process = Process::Start(argv, log_path);
  if (!server.process) return server;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::regex tcp_re("listening tcp [^ \\n]*:([0-9]+)"), udp_re("listening udp [^ \\n]*:([0-9]+)");
  while (std::chrono::steady_clock::now() < deadline && server.process->Running()) {
    std::string log = server.process->Log().substr(before.size());
    std::smatch t, u;
    if (std::regex_search(log, t, tcp_re) && std::regex_search(log, u, udp_re)) {
      server.tcp_port = std::stoi(t[1]);
      server.udp_port = std::stoi(u[1]);
      return server;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ADD_FAILURE() << "im-server did not start; its log:\n" << server.process->Log();
  return server;
}

}  // namespace im::test
