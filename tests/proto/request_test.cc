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
  EXPECT_EQ(ImmediateReply("REG alice pass word"), Reply::kBadRequest);
  EXPECT_EQ(ImmediateReply("ADD alice"), Reply::kBadRequest);
  EXPECT_EQ(ImmediateReply("ADD alice bob carol dave"), Reply::kBadRequest);
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
  for (std::string_view line : {"REG", "REG a password x", "ADD a", "ADD a b c d", "DEL a", "DEL a b c d", "PING x"}) {
    EXPECT_EQ(ImmediateReply(line), Reply::kBadRequest) << line;
  }
}

constexpr std::string_view kSession = "AAAAAAAAAAAAAAAAAAAAAA";
const std::string kMac(43, 'm');

TEST(Grammar, PasswordsAreOneWordOf8To128Bytes) {
  Request r = StoreRequest("REG alice s3cret-pw");
  EXPECT_EQ(r.password, "s3cret-pw");
  EXPECT_EQ(ImmediateReply("REG alice short"), Reply::kBadPassword);
  EXPECT_EQ(StoreRequest("REG alice " + std::string(128, 'p')).password.size(), 128u);
  EXPECT_EQ(ImmediateReply("REG alice " + std::string(129, 'p')), Reply::kBadPassword);
  EXPECT_EQ(ImmediateReply("REG b@d s3cret-pw"), Reply::kInvalidUserId);
  EXPECT_EQ(FormatRequest(r), "REG alice s3cret-pw\n");
}

TEST(Grammar, ProofsParseStrictlyAndFormatBack) {
  std::string proof = std::string(kSession) + ".1700000000123.42." + kMac;
  Request r = StoreRequest("ADD alice bob " + proof);
  EXPECT_EQ(r.proof.session, kSession);
  EXPECT_EQ(r.proof.time_ms, 1700000000123);
  EXPECT_EQ(r.proof.counter, 42u);
  EXPECT_EQ(r.proof.mac, kMac);
  EXPECT_EQ(FormatRequest(r), "ADD alice bob " + proof + "\n");
  EXPECT_EQ(SignedText(r), "ADD alice bob " + std::string(kSession) + ".1700000000123.42");
  for (std::string bad : {std::string("x"), std::string(kSession) + ".1.2", std::string(kSession) + ".1.2.short",
                          std::string(kSession) + ".-1.2." + kMac, std::string(kSession) + ".1.x." + kMac,
                          std::string("AAAA.1.2.") + kMac, std::string(kSession) + ".1.2." + kMac + "m",
                          std::string(kSession) + ".1.2." + std::string(42, 'm') + "=",
                          std::string(kSession) + ".1.007." + kMac, std::string(kSession) + ".01.2." + kMac}) {
    EXPECT_EQ(ImmediateReply("DEL alice bob " + bad), Reply::kUnauthorized) << bad;
  }
}

TEST(Grammar, PingTakesNoArguments) {
  EXPECT_EQ(StoreRequest("PING").verb, Verb::kPing);
  EXPECT_EQ(StoreRequest("ping").verb, Verb::kPing);
  EXPECT_EQ(FormatRequest(Request{Verb::kPing}), "PING\n");
}

TEST(Grammar, GrantsRideOnTheReplyLine) {
  SessionGrant grant{std::string(kSession), kMac, 1700086400000, 1700000000000};
  std::string line = FormatGrantReply(Reply::kLoggedIn, grant);
  EXPECT_EQ(line, "210 LOGGED IN " + std::string(kSession) + " " + kMac + " 1700086400000 1700000000000\n");
  EXPECT_EQ(ParseReply(line, RepliesFor(Verb::kReg)), Reply::kLoggedIn);
  auto back = ParseGrant(line);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->session, grant.session);
  EXPECT_EQ(back->key, grant.key);
  EXPECT_EQ(back->expires_ms, grant.expires_ms);
  EXPECT_EQ(back->server_now_ms, grant.server_now_ms);
  EXPECT_TRUE(ParseGrant(FormatGrantReply(Reply::kOk, grant)));
  EXPECT_FALSE(ParseGrant("200 OK"));
  EXPECT_FALSE(ParseGrant("201 ALREADY REGISTERED " + std::string(kSession) + " " + kMac + " 1 2"));
}

TEST(Grammar, LogNamesAreTheVerbs) {
  EXPECT_EQ(VerbName(Verb::kReg), "REG");
  EXPECT_EQ(VerbName(Verb::kAdd), "ADD");
  EXPECT_EQ(VerbName(Verb::kDel), "DEL");
  EXPECT_EQ(VerbName(Verb::kPing), "PING");
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
