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

// Base64url fields of the right lengths: 32-byte keys (43), a 24-byte header (32).
const std::string kPub(43, 'A');
const std::string kHeader(32, 'B');
const std::string kConfirm(23, 'C');  // a record of an empty line

TEST(SecureChatLines, FormatAndParseBack) {
  std::string hello = FormatSecureHello("alice", kPub, kPub);
  EXPECT_EQ(hello, "HELLO alice e=" + kPub + " s=" + kPub + "\n");
  hello.pop_back();
  ChatLine h = ParseChatLine(hello);
  EXPECT_EQ(h.kind, ChatKind::kHello);
  EXPECT_EQ(h.arg, "alice");
  EXPECT_TRUE(h.encrypted());
  EXPECT_EQ(h.identity, kPub);

  std::string ok = FormatSecureOk(kPub, kPub, kHeader, kConfirm);
  ok.pop_back();
  ChatLine o = ParseChatLine(ok);
  EXPECT_EQ(o.kind, ChatKind::kOk);
  EXPECT_TRUE(o.encrypted());
  EXPECT_EQ(o.header, kHeader);
  EXPECT_EQ(o.confirm, kConfirm);

  std::string ready = FormatReady(kHeader, kConfirm);
  ready.pop_back();
  EXPECT_EQ(ParseChatLine(ready).kind, ChatKind::kReady);
  std::string record = FormatRecord(kConfirm);
  EXPECT_EQ(record, "E " + kConfirm + "\n");
  record.pop_back();
  EXPECT_EQ(ParseChatLine(record).arg, kConfirm);
  // A plain HELLO and OK are still what they were.
  EXPECT_FALSE(ParseChatLine("HELLO alice").encrypted());
  EXPECT_FALSE(ParseChatLine("OK").encrypted());
}

TEST(SecureChatLines, MalformedFieldsAreInvalid) {
  for (std::string line : {"HELLO alice e=" + kPub, "HELLO alice s=" + kPub + " e=" + kPub,
                           "HELLO alice e=" + kPub.substr(1) + " s=" + kPub, "HELLO alice e=" + kPub + " s=" + kPub + " x",
                           "HELLO alice e=" + kPub + " s=" + kPub.substr(1) + "+", "OK e=" + kPub + " s=" + kPub,
                           "OK e=" + kPub + " s=" + kPub + " h=" + kHeader, "READY h=" + kHeader,
                           "READY h=" + kHeader.substr(2) + " c=" + kConfirm, "READY c=" + kConfirm + " h=" + kHeader,
                           std::string("E"), std::string("E "), std::string("E a+b"), std::string("E ") + std::string(1400, 'A')}) {
    EXPECT_EQ(ParseChatLine(line).kind, ChatKind::kInvalid) << line;
  }
}

}  // namespace
}  // namespace im::proto
