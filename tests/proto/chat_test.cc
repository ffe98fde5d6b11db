#include "proto/chat.h"

#include <gtest/gtest.h>

namespace im::proto {
namespace {

TEST(ParseChatLine, EveryKind) {
  EXPECT_EQ(ParseChatLine("HELLO alice").kind, ChatKind::kHello);
  EXPECT_EQ(ParseChatLine("HELLO alice").arg, "alice");
  EXPECT_EQ(ParseChatLine("OK").kind, ChatKind::kOk);
  EXPECT_EQ(ParseChatLine("BUSY").kind, ChatKind::kBusy);
  EXPECT_EQ(ParseChatLine("BYE").kind, ChatKind::kBye);
  ChatLine msg = ParseChatLine("MSG Hello buddy!");
  EXPECT_EQ(msg.kind, ChatKind::kMessage);
  EXPECT_EQ(msg.arg, "Hello buddy!");
  EXPECT_EQ(ParseChatLine("MSG").kind, ChatKind::kMessage);
  EXPECT_EQ(ParseChatLine("MSG  two  spaces ").arg, " two  spaces ");
}

TEST(ParseChatLine, Invalid) {
  for (std::string_view line : {"", "HELLO", "HELLO b@d", "HELLO a b", "hello alice", "ok", "MSGx",
                                "MSG \x1b[2J", "BYE now"}) {
    EXPECT_EQ(ParseChatLine(line).kind, ChatKind::kInvalid) << line;
  }
  EXPECT_EQ(ParseChatLine("MSG " + std::string(1020, 'a')).kind, ChatKind::kMessage);
  EXPECT_EQ(ParseChatLine("MSG " + std::string(1021, 'a')).kind, ChatKind::kInvalid);
}

TEST(FormatChat, RoundTrips) {
  EXPECT_EQ(FormatHello("bob"), "HELLO bob\n");
  EXPECT_EQ(FormatMessage("Nice to meet you buddy!"), "MSG Nice to meet you buddy!\n");
  std::string long_text(5000, 'x');
  std::string line = FormatMessage(long_text);
  line.pop_back();
  EXPECT_EQ(ParseChatLine(line).kind, ChatKind::kMessage);  // truncated to fit
  EXPECT_EQ(FormatMessage("a\tb\x1b"), "MSG a?b?\n");
}

}  // namespace
}  // namespace im::proto
