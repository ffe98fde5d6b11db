// The log never blocks: a pipe nobody reads costs lines, counted, and the count is
// reported once the pipe drains.
#include "net/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>

namespace im::net {
namespace {

TEST(Log, AFullPipeDropsAndCountsLinesInsteadOfBlocking) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  SetLogFd(fds[1]);
  SetLogLevel(LogLevel::kInfo);
  auto start = std::chrono::steady_clock::now();
  std::string filler(900, 'x');
  for (int i = 0; i < 2000; ++i) LogWrite(LogLevel::kInfo, "line %d %s", i, filler.c_str());  // ~1.8 MB
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2)) << "it blocked";
  uint64_t dropped = LogLinesDropped();
  EXPECT_GT(dropped, 1000u) << "a 64 KiB pipe holds ~70 of these lines";
  // Drain the pipe; the next line is preceded by the count of what is not reported yet.
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  LogWrite(LogLevel::kWarn, "after");
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  // Every dropped line is in some report: the reports add up to the count.
  uint64_t reported = 0;
  std::regex note("([0-9]+) log lines dropped");
  for (std::sregex_iterator it(out.begin(), out.end(), note), end; it != end; ++it) reported += std::stoull((*it)[1]);
  EXPECT_EQ(reported, dropped);
  EXPECT_NE(out.find("WARN after"), std::string::npos);
  SetLogFd(STDERR_FILENO);
  close(fds[0]);
  close(fds[1]);
}

TEST(Log, LevelsAndTag) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  SetLogFd(fds[1]);
  SetLogLevel(LogLevel::kNotice);
  IM_LOG(kInfo, "hidden");
  IM_LOG(kNotice, "shown");
  SetLogTag("[LB]");
  IM_LOG(kWarn, "tagged");
  SetLogTag(nullptr);
  char buf[4096];
  ssize_t n = read(fds[0], buf, sizeof buf);
  ASSERT_GT(n, 0);
  std::string out(buf, static_cast<size_t>(n));
  EXPECT_EQ(out.find("hidden"), std::string::npos);
  EXPECT_NE(out.find("Z NOTICE shown\n"), std::string::npos) << out;
  EXPECT_NE(out.find("[LB] tagged\n"), std::string::npos) << out;
  SetLogFd(STDERR_FILENO);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace im::net
