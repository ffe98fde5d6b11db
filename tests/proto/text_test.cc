#include "proto/text.h"

#include <gtest/gtest.h>

namespace im::proto {
namespace {

TEST(Printable, ReplacesC0AndDel) {
  EXPECT_EQ(Printable("hi\x1b[31m\r\n"), "hi?[31m??");
  EXPECT_EQ(Printable(std::string("a\0b\x7f", 4)), "a?b?");
}

TEST(Printable, KeepsValidUtf8) {
  EXPECT_EQ(Printable("caf\xc3\xa9"), "caf\xc3\xa9");                // é
  EXPECT_EQ(Printable("\xe2\x82\xac 5"), "\xe2\x82\xac 5");            // €
  EXPECT_EQ(Printable("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");        // an emoji
}

TEST(Printable, ReplacesC1InEveryForm) {
  // Raw bytes 0x80-0x9F (8-bit CSI is 0x9b) on every architecture, signed char or not.
  for (int b = 0x80; b <= 0x9f; ++b) {
    std::string raw(1, static_cast<char>(b));
    EXPECT_EQ(Printable("x" + raw + "y"), "x?y") << b;
  }
  // The same controls encoded as UTF-8 (U+0080-U+009F: C2 80 .. C2 9F).
  EXPECT_EQ(Printable("\xc2\x9b" "31m"), "?31m");
  EXPECT_EQ(Printable("\xc2\x80\xc2\x9f"), "??");
  EXPECT_EQ(Printable("\xc2\xa0"), "\xc2\xa0");  // U+00A0 is not a control
}

TEST(Printable, NeutralisesBidiControls) {
  EXPECT_EQ(Printable("abc\xe2\x80\xae" "cba"), "abc?cba");  // U+202E RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(Printable("\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad"), "????");
  EXPECT_EQ(Printable("\xe2\x81\xa6\xe2\x81\xa9"), "??");  // U+2066 .. U+2069 isolates
  EXPECT_EQ(Printable("\xe2\x80\x8e\xe2\x80\x8f\xd8\x9c"), "???");  // LRM RLM ALM
}

TEST(Printable, ReplacesBrokenUtf8ByteByByte) {
  EXPECT_EQ(Printable("\xc3"), "?");                // truncated
  EXPECT_EQ(Printable("\xc0\xaf"), "??");           // overlong '/'
  EXPECT_EQ(Printable("\xed\xa0\x80"), "???");      // a surrogate
  EXPECT_EQ(Printable("\xf5\x80\x80\x80"), "????");  // past U+10FFFF
  EXPECT_EQ(Printable("\xff\xfe"), "??");
}

}  // namespace
}  // namespace im::proto
