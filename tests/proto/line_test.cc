#include "proto/line.h"

#include <gtest/gtest.h>

namespace im::proto {
namespace {

TEST(LineBuffer, SplitsLinesAndDropsCarriageReturn) {
  LineBuffer buf(256);
  buf.Append("REG alice\r\nADD a");
  std::string line;
  ASSERT_EQ(buf.Next(&line), LineBuffer::Result::kLine);
  EXPECT_EQ(line, "REG alice");
  EXPECT_EQ(buf.Next(&line), LineBuffer::Result::kNeedMore);
  EXPECT_EQ(buf.Pending(), "ADD a");
  buf.Append(" b\n");
  ASSERT_EQ(buf.Next(&line), LineBuffer::Result::kLine);
  EXPECT_EQ(line, "ADD a b");
}

TEST(LineBuffer, AcceptsExactlyTheBoundAndRejectsOneMore) {
  std::string max(256, 'x');
  LineBuffer ok(256);
  ok.Append(max + "\r\n");
  std::string line;
  ASSERT_EQ(ok.Next(&line), LineBuffer::Result::kLine);
  EXPECT_EQ(line.size(), 256u);

  LineBuffer over(256);
  over.Append(max + "y\n");
  EXPECT_EQ(over.Next(&line), LineBuffer::Result::kTooLong);
}

TEST(LineBuffer, RejectsALongPartialLineBeforeItsNewline) {
  LineBuffer buf(256);
  buf.Append(std::string(257, 'x'));
  std::string line;
  EXPECT_EQ(buf.Next(&line), LineBuffer::Result::kNeedMore);  // 256 + '\r' is still possible
  buf.Append("z");
  EXPECT_EQ(buf.Next(&line), LineBuffer::Result::kTooLong);
}

TEST(LineBuffer, EmptyLines) {
  LineBuffer buf(8);
  buf.Append("\n\r\n");
  std::string line = "junk";
  ASSERT_EQ(buf.Next(&line), LineBuffer::Result::kLine);
  EXPECT_EQ(line, "");
  ASSERT_EQ(buf.Next(&line), LineBuffer::Result::kLine);
  EXPECT_EQ(line, "");
  EXPECT_EQ(buf.Next(&line), LineBuffer::Result::kNeedMore);
}

TEST(LineBuffer, ManySmallLinesKeepTheBufferBounded) {
  LineBuffer buf(16);
  std::string line;
  for (int i = 0; i < 10000; ++i) {
    buf.Append("hello\nwor");
    ASSERT_EQ(buf.Next(&line), LineBuffer::Result::kLine);
    buf.Append("ld\n");
    ASSERT_EQ(buf.Next(&line), LineBuffer::Result::kLine);
    ASSERT_EQ(line, "world");
    ASSERT_EQ(buf.Next(&line), LineBuffer::Result::kNeedMore);
    ASSERT_TRUE(buf.Pending().empty());
  }
}

TEST(Line, ControlBytes) {
  EXPECT_FALSE(HasControlBytes("REG alice"));
  EXPECT_TRUE(HasControlBytes(std::string("REG \0alice", 10)));
  EXPECT_TRUE(HasControlBytes("REG\talice"));
  EXPECT_TRUE(HasControlBytes("REG \x7f"));
  EXPECT_TRUE(HasControlBytes("REG \x1b[2J"));
  EXPECT_FALSE(HasControlBytes("caf\xc3\xa9"));  // UTF-8 is not a control byte
}

TEST(Line, SplitWords) {
  auto w = SplitWords("  ADD   alice bob  ");
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], "ADD");
  EXPECT_EQ(w[1], "alice");
  EXPECT_EQ(w[2], "bob");
  EXPECT_TRUE(SplitWords("").empty());
  EXPECT_TRUE(SplitWords("    ").empty());
}

TEST(Line, EqualsIgnoreCase) {
  EXPECT_TRUE(EqualsIgnoreCase("reg", "REG"));
  EXPECT_TRUE(EqualsIgnoreCase("ReG", "rEg"));
  EXPECT_FALSE(EqualsIgnoreCase("REGX", "REG"));
  EXPECT_FALSE(EqualsIgnoreCase("RE[", "RE{"));
}

TEST(Line, ParsePort) {
  unsigned port = 1;
  EXPECT_TRUE(ParsePort("0", &port));
  EXPECT_EQ(port, 0u);
  EXPECT_TRUE(ParsePort("65535", &port));
  EXPECT_EQ(port, 65535u);
  EXPECT_FALSE(ParsePort("65536", &port));
  EXPECT_FALSE(ParsePort("-1", &port));
  EXPECT_FALSE(ParsePort("+5", &port));
  EXPECT_FALSE(ParsePort("12a", &port));
  EXPECT_FALSE(ParsePort("", &port));
  EXPECT_FALSE(ParsePort("000001", &port));
  EXPECT_FALSE(ParsePort("99999999999", &port));
}

TEST(Line, StripLineEnd) {
  EXPECT_EQ(StripLineEnd("a\r\n"), "a");
  EXPECT_EQ(StripLineEnd("a\n"), "a");
  EXPECT_EQ(StripLineEnd("a"), "a");
  EXPECT_EQ(StripLineEnd("\r\n"), "");
}

}  // namespace
}  // namespace im::proto
