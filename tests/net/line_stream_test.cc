// LineStream over a FakeStream: framing, its bound, the end of input, and closing.
#include "net/line_stream.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/support/fake_stream.h"

namespace im::net {
namespace {

class Recorder : public LineStream::Handler {
 public:
  void OnLine(std::string_view line) override {
    lines.emplace_back(line);
    if (stop_after_first) stream->StopReading();
  }
  void OnLineTooLong() override { ++too_long; }
  void OnLinesEnd(std::string_view partial) override {
    ended = true;
    last_partial = partial;
  }
  void OnLinesError(int status) override { error = status; }
  void OnLinesClosed() override { closed = true; }

  LineStream* stream = nullptr;
  bool stop_after_first = false;
  std::vector<std::string> lines;
  int too_long = 0;
  bool ended = false;
  std::string last_partial;
  int error = 0;
  bool closed = false;
};

class LineStreamTest : public ::testing::Test {
 protected:
  LineStreamTest() { uv_loop_init(&loop_); }
  ~LineStreamTest() override { EXPECT_EQ(FinishTestLoop(), 0); }
  int FinishTestLoop() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    return uv_loop_close(&loop_);
  }
  uv_loop_t loop_;
  test::FakeStream::Record record_;
};

TEST_F(LineStreamTest, SplitsLinesAcrossReadsAndDropsCr) {
  Recorder r;
  LineStream lines(16, r);
  r.stream = &lines;
  auto* fake = new test::FakeStream(&loop_, &record_);
  lines.Attach(fake);
  ASSERT_EQ(lines.StartReading(), 0);
  fake->Feed("one\r\ntw");
  fake->Feed("o\nthree\n\n");
  EXPECT_EQ(r.lines, (std::vector<std::string>{"one", "two", "three", ""}));
  fake->Feed("tail");
  fake->FeedEof();
  EXPECT_TRUE(r.ended);
  EXPECT_EQ(r.last_partial, "tail");
  lines.Close();
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_TRUE(r.closed);
}

TEST_F(LineStreamTest, ALineOverTheBoundIsReportedWithoutBufferingIt) {
  Recorder r;
  LineStream lines(8, r);
  auto* fake = new test::FakeStream(&loop_, &record_);
  lines.Attach(fake);
  lines.StartReading();
  fake->Feed("12345678\n");  // exactly the bound: fine
  EXPECT_EQ(r.lines.size(), 1u);
  fake->Feed(std::string(1 << 20, 'x'));  // one read of 1 MiB without a newline
  EXPECT_EQ(r.too_long, 1);
  EXPECT_FALSE(fake->reading()) << "reading stops";
  fake->Feed("more\n");
  EXPECT_EQ(r.lines.size(), 1u) << "nothing after the over-long line";
  lines.Close();
}

TEST_F(LineStreamTest, AnOverLongLineWithItsNewlineInTheSameReadIsStillTooLong) {
  Recorder r;
  LineStream lines(8, r);
  auto* fake = new test::FakeStream(&loop_, &record_);
  lines.Attach(fake);
  lines.StartReading();
  fake->Feed("123456789\nok\n");
  EXPECT_EQ(r.too_long, 1);
  EXPECT_TRUE(r.lines.empty());
  lines.Close();
}

TEST_F(LineStreamTest, StopReadingDiscardsTheRestOfTheRead) {
  Recorder r;
  r.stop_after_first = true;
  LineStream lines(64, r);
  r.stream = &lines;
  auto* fake = new test::FakeStream(&loop_, &record_);
  lines.Attach(fake);
  lines.StartReading();
  fake->Feed("REG a\nREG b\nREG c\n");
  EXPECT_EQ(r.lines, std::vector<std::string>{"REG a"});
  lines.Close();
}

TEST_F(LineStreamTest, DestroyingItAbandonsTheStreamSilently) {
  Recorder r;
  {
    LineStream lines(64, r);
    auto* fake = new test::FakeStream(&loop_, &record_);
    lines.Attach(fake);
    lines.StartReading();
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_TRUE(record_.closed);
  EXPECT_FALSE(r.closed) << "an abandoned stream says nothing";
}

}  // namespace
}  // namespace im::net
