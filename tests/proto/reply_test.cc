#include "proto/reply.h"

#include <gtest/gtest.h>

namespace im::proto {
namespace {

TEST(Reply, LinesAndCodes) {
  EXPECT_EQ(ReplyLine(Reply::kOk), "200 OK\n");
  EXPECT_EQ(ReplyLine(Reply::kAlreadyRegistered), "201 ALREADY REGISTERED\n");
  EXPECT_EQ(ReplyLine(Reply::kInvalidUserId), "202 INVALID USERID\n");
  EXPECT_EQ(ReplyLine(Reply::kRegistrationClosed), "203 REGISTRATION CLOSED\n");
  EXPECT_EQ(ReplyLine(Reply::kAlreadyBuddy), "201 ALREADY BUDDY\n");
  EXPECT_EQ(ReplyLine(Reply::kNoSuchUser), "202 NO SUCH USER\n");
  EXPECT_EQ(ReplyLine(Reply::kBuddyListFull), "203 BUDDY LIST FULL\n");
  EXPECT_EQ(ReplyLine(Reply::kNotABuddy), "201 NOT A BUDDY\n");
  EXPECT_EQ(ReplyLine(Reply::kBadRequest), "400 BAD REQUEST\n");
  EXPECT_EQ(ReplyLine(Reply::kServerError), "500 SERVER ERROR\n");
  EXPECT_EQ(ReplyLine(Reply::kNoBackend), "503 NO BACKEND AVAILABLE\n");
  EXPECT_EQ(ReplyLine(Reply::kLoggedIn), "210 LOGGED IN\n");
  EXPECT_EQ(ReplyLine(Reply::kWrongPassword), "204 WRONG PASSWORD\n");
  EXPECT_EQ(ReplyLine(Reply::kPasswordRequired), "205 PASSWORD REQUIRED\n");
  EXPECT_EQ(ReplyLine(Reply::kNotProtected), "206 ACCOUNT HAS NO PASSWORD\n");
  EXPECT_EQ(ReplyLine(Reply::kBadPassword), "207 BAD PASSWORD\n");
  EXPECT_EQ(ReplyLine(Reply::kUnauthorized), "401 UNAUTHORIZED\n");
  EXPECT_EQ(ReplyLine(Reply::kTryLater), "429 TRY LATER\n");
  EXPECT_EQ(ReplyCode(Reply::kOk), 200);
  EXPECT_EQ(ReplyCode(Reply::kNotABuddy), 201);
  EXPECT_EQ(ReplyCode(Reply::kNoSuchUser), 202);
  EXPECT_EQ(ReplyCode(Reply::kRegistrationClosed), 203);
  EXPECT_EQ(ReplyCode(Reply::kBadRequest), 400);
  EXPECT_EQ(ReplyCode(Reply::kServerError), 500);
  EXPECT_EQ(ReplyCode(Reply::kNoBackend), 503);
}

TEST(ParseReplyLine, SplitsCodeAndText) {
  auto r = ParseReplyLine("201 ALREADY REGISTERED\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, 201);
  EXPECT_EQ(r->text, "ALREADY REGISTERED");
  auto bare = ParseReplyLine("200");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->code, 200);
  EXPECT_FALSE(ParseReplyLine(""));
  EXPECT_FALSE(ParseReplyLine("OK"));
  EXPECT_FALSE(ParseReplyLine("20x OK"));
  EXPECT_FALSE(ParseReplyLine("200OK"));
  EXPECT_FALSE(ParseReplyLine("099 LOW"));
  EXPECT_FALSE(ParseReplyLine("200 \x1b[2J"));
}

TEST(ParseReply, MatchesTheCodeAmongTheExpected) {
  constexpr Reply kExpected[] = {Reply::kOk, Reply::kNotABuddy, Reply::kServerError};
  EXPECT_EQ(ParseReply("200 OK\n", kExpected), Reply::kOk);
  EXPECT_EQ(ParseReply("201 whatever the words", kExpected), Reply::kNotABuddy);
  EXPECT_EQ(ParseReply("500", kExpected), Reply::kServerError);
  EXPECT_EQ(ParseReply("202 NO SUCH USER", kExpected), std::nullopt);
  EXPECT_EQ(ParseReply("garbage", kExpected), std::nullopt);
}

}  // namespace
}  // namespace im::proto
