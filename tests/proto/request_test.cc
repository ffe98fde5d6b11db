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

TEST(Grammar, ArgumentCountsComeFromTheTable) {
  // Every verb with one argument too few and one too many.
  for (std::string_view line : {"REG", "REG a b", "ADD a", "ADD a b c", "DEL a", "DEL a b c"}) {
    EXPECT_EQ(ImmediateReply(line), Reply::kBadRequest) << line;
  }
}

TEST(Grammar, LogNamesAreTheVerbs) {
  EXPECT_EQ(VerbName(Verb::kReg), "REG");
  EXPECT_EQ(VerbName(Verb::kAdd), "ADD");
  EXPECT_EQ(VerbName(Verb::kDel), "DEL");
}

TEST(Grammar, EachVerbKnowsItsReplies) {
  // A client reads "201" by the verb it sent.
  EXPECT_EQ(ParseReply("201 ALREADY REGISTERED", RepliesFor(Verb::kReg)), Reply::kAlreadyRegistered);
  EXPECT_EQ(ParseReply("201 ALREADY BUDDY", RepliesFor(Verb::kAdd)), Reply::kAlreadyBuddy);
  EXPECT_EQ(ParseReply("201 NOT A BUDDY", RepliesFor(Verb::kDel)), Reply::kNotABuddy);
  EXPECT_EQ(ParseReply("203 BUDDY LIST FULL", RepliesFor(Verb::kDel)), std::nullopt);  // DEL never says 203
  for (Verb verb : {Verb::kReg, Verb::kAdd, Verb::kDel}) {
    EXPECT_EQ(ParseReply("500 SERVER ERROR", RepliesFor(verb)), Reply::kServerError);
    EXPECT_EQ(ParseReply("503 NO BACKEND AVAILABLE", RepliesFor(verb)), Reply::kNoBackend);
    EXPECT_EQ(ParseReply("400 BAD REQUEST", RepliesFor(verb)), Reply::kBadRequest);
  }
}

}  // namespace
}  // namespace im::proto
