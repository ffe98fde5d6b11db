#include "proto/request.h"

#include <gtest/gtest.h>

namespace im::proto {
namespace {

Reply ImmediateReply(std::string_view line) {
  auto parsed = ParseRequest(line);
  EXPECT_TRUE(std::holds_alternative<Reply>(parsed)) << line;
  return std::holds_alternative<Reply>(parsed) ? std::get<Reply>(parsed) : Reply::kOk;
}

Request StoreRequest(std::string_view line) {
  auto parsed = ParseRequest(line);
  EXPECT_TRUE(std::holds_alternative<Request>(parsed)) << line;
  return std::holds_alternative<Request>(parsed) ? std::get<Request>(parsed) : Request{};
}

TEST(ParseRequest, Reg) {
  Request r = StoreRequest("REG alice");
  EXPECT_EQ(r.verb, Verb::kReg);
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(StoreRequest("reg Bob").user, "Bob");  // verb case-insensitive, id kept as is
  EXPECT_EQ(StoreRequest("  Reg   carol  ").user, "carol");
}

TEST(ParseRequest, AddAndDel) {
  Request add = StoreRequest("ADD alice bob");
  EXPECT_EQ(add.verb, Verb::kAdd);
  EXPECT_EQ(add.user, "alice");
  EXPECT_EQ(add.buddy, "bob");
  Request del = StoreRequest("del alice bob");
  EXPECT_EQ(del.verb, Verb::kDel);
  // DEL of oneself goes to the store: the answer depends on whether alice exists.
  EXPECT_EQ(StoreRequest("DEL alice alice").verb, Verb::kDel);
}

TEST(ParseRequest, InvalidIds) {
  EXPECT_EQ(ImmediateReply("REG al!ce"), Reply::kInvalidUserId);
  EXPECT_EQ(ImmediateReply("REG " + std::string(33, 'a')), Reply::kInvalidUserId);
  EXPECT_EQ(ImmediateReply("ADD alice b@b"), Reply::kNoSuchUser);
  EXPECT_EQ(ImmediateReply("ADD a#ice bob"), Reply::kNoSuchUser);
  EXPECT_EQ(ImmediateReply("DEL alice b@b"), Reply::kNoSuchUser);
  EXPECT_EQ(ImmediateReply("ADD alice alice"), Reply::kNoSuchUser);
}

TEST(ParseRequest, BadRequests) {
  EXPECT_EQ(ImmediateReply(""), Reply::kBadRequest);
  EXPECT_EQ(ImmediateReply("   "), Reply::kBadRequest);
  EXPECT_EQ(ImmediateReply("HELLO alice"), Reply::kBadRequest);
  EXPECT_EQ(ImmediateReply("REG"), Reply::kBadRequest);
  EXPECT_EQ(ImmediateReply("REG alice bob"), Reply::kBadRequest);
  EXPECT_EQ(ImmediateReply("ADD alice"), Reply::kBadRequest);
  EXPECT_EQ(ImmediateReply("ADD alice bob carol"), Reply::kBadRequest);
  EXPECT_EQ(ImmediateReply("DEL"), Reply::kBadRequest);
  EXPECT_EQ(ImmediateReply("SET alice ONLINE 5"), Reply::kBadRequest);  // UDP verb on TCP
  EXPECT_EQ(ImmediateReply(std::string("REG al\0ce", 9)), Reply::kBadRequest);
  EXPECT_EQ(ImmediateReply("REG\talice"), Reply::kBadRequest);
  EXPECT_EQ(ImmediateReply("REG " + std::string(253, 'a')), Reply::kBadRequest);  // 257 bytes
}

TEST(ParseRequest, ExactlyTheLongestLineIsParsed) {
  // 256 bytes: an over-long id gives 202, not 400, because the line itself is legal.
  EXPECT_EQ(ImmediateReply("REG " + std::string(252, 'a')), Reply::kInvalidUserId);
}

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
  EXPECT_EQ(ReplyCode(Reply::kOk), 200);
  EXPECT_EQ(ReplyCode(Reply::kNotABuddy), 201);
  EXPECT_EQ(ReplyCode(Reply::kNoSuchUser), 202);
  EXPECT_EQ(ReplyCode(Reply::kRegistrationClosed), 203);
  EXPECT_EQ(ReplyCode(Reply::kBadRequest), 400);
  EXPECT_EQ(ReplyCode(Reply::kServerError), 500);
  EXPECT_EQ(ReplyCode(Reply::kNoBackend), 503);
}

TEST(Reply, FormatThenParseRoundTrips) {
  for (auto req : {Request{Verb::kReg, "alice", ""}, Request{Verb::kAdd, "alice", "bob"},
                   Request{Verb::kDel, "x.y", "z-1"}}) {
    std::string line = FormatRequest(req);
    ASSERT_EQ(line.back(), '\n');
    line.pop_back();
    Request back = StoreRequest(line);
    EXPECT_EQ(back.verb, req.verb);
    EXPECT_EQ(back.user, req.user);
    EXPECT_EQ(back.buddy, req.buddy);
  }
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
}

}  // namespace
}  // namespace im::proto
