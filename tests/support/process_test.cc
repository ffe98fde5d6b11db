// The test helpers' own contract: RunShell, the bounded shell run behind
// Postgres::Run and Redis::Cli.
#include "tests/support/process.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace im::test {
namespace {

TEST(RunShell, OutputWithoutTrailingNewlinesAndTheExitStatus) {
  std::string out;
  EXPECT_TRUE(RunShell("printf 'one\\ntwo\\n\\n'", 5, &out));
  EXPECT_EQ(out, "one\ntwo");
  EXPECT_FALSE(RunShell("echo partial; exit 3", 5, &out));
  EXPECT_EQ(out, "partial") << "the output of a failed command is still given";
  EXPECT_TRUE(RunShell("true", 5)) << "no output wanted";
}

TEST(RunShell, TheWholeCommandLineIsOneShellCommand) {
  std::string out;
  // A pipe and a list: the time bound and the redirection cover every part of it.
  EXPECT_TRUE(RunShell("echo a | tr a b && echo c", 5, &out));
  EXPECT_EQ(out, "b\nc");
  EXPECT_TRUE(RunShell("echo " + ShellQuote("it's $HOME; `x`"), 5, &out));
  EXPECT_EQ(out, "it's $HOME; `x`");
}

TEST(RunShell, StandardErrorIsMixedInOrAppendedToAFile) {
  std::string out;
  EXPECT_TRUE(RunShell("echo out; echo err >&2", 5, &out));
  EXPECT_EQ(out, "out\nerr");
  TempDir dir;
  std::string log = dir.File("err.log");
  EXPECT_TRUE(RunShell("echo out; echo err1 >&2", 5, &out, log));
  EXPECT_TRUE(RunShell("echo err2 >&2", 5, nullptr, log));
  EXPECT_EQ(out, "out");
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "err1\nerr2\n");
}

TEST(RunShell, ACommandThatOverrunsItsTimeIsKilledWithWhatItStarted) {
  std::string out;
  auto start = std::chrono::steady_clock::now();
  // The background sleep keeps the pipe open: unless it is killed too, the read never ends.
  EXPECT_FALSE(RunShell("sleep 30 & echo started; wait", 1, &out));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(out, "started");
  EXPECT_LT(took, std::chrono::seconds(10));
}

TEST(RunShell, OutputIsBoundedAndTheCommandStillFinishes) {
  std::string out;
  EXPECT_TRUE(RunShell("head -c 3000000 /dev/zero | tr '\\0' x", 10, &out));
  EXPECT_EQ(out.size(), kMaxShellOutputBytes);
}

}  // namespace
}  // namespace im::test
