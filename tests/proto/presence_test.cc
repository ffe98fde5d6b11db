#include "proto/presence.h"

#include <gtest/gtest.h>

namespace im::proto {
namespace {

TEST(ParseDatagram, SetWithEveryStatusSpelling) {
  struct Case {
    const char* text;
    bool online;
  } cases[] = {{"SET alice ONLINE 4000", true},  {"set alice online 4000\n", true},
               {"SET alice 100 4000\r\n", true}, {"SET alice OFFLINE 4000", false},
               {"SET alice offline 4000", false}, {"SET alice 101 4000", false}};
  for (const auto& c : cases) {
    auto parsed = ParseDatagram(c.text);
    ASSERT_TRUE(std::holds_alternative<SetPresence>(parsed)) << c.text;
    const auto& set = std::get<SetPresence>(parsed);
    EXPECT_EQ(set.user, "alice");
    EXPECT_EQ(set.online, c.online) << c.text;
    EXPECT_EQ(set.msg_port, 4000);
  }
}

TEST(ParseDatagram, Get) {
  auto parsed = ParseDatagram("get Bob\n");
  ASSERT_TRUE(std::holds_alternative<GetBuddies>(parsed));
  EXPECT_EQ(std::get<GetBuddies>(parsed).user, "Bob");
}

TEST(ParseDatagram, Malformed) {
  for (std::string_view text :
       {"", "\n", "SET", "SET alice", "SET alice ONLINE", "SET alice ONLINE 5 6", "SET alice AWAY 5",
        "SET alice 102 5", "SET alice ONLINE 70000", "SET alice ONLINE -1", "SET alice ONLINE x",
        "GET", "GET alice bob", "PUT alice", "GET alice\n\n", "GET al\tice"}) {
    auto parsed = ParseDatagram(text);
    ASSERT_TRUE(std::holds_alternative<DatagramError>(parsed)) << text;
    EXPECT_EQ(std::get<DatagramError>(parsed), DatagramError::kMalformed) << text;
  }
  EXPECT_TRUE(std::holds_alternative<DatagramError>(ParseDatagram(std::string(300, 'G'))));
}

TEST(ParseDatagram, BadUserIdIsNotMalformed) {
  auto get = ParseDatagram("GET b@d");
  ASSERT_TRUE(std::holds_alternative<DatagramError>(get));
  EXPECT_EQ(std::get<DatagramError>(get), DatagramError::kBadUserId);
  auto set = ParseDatagram("SET b@d ONLINE 1");
  ASSERT_TRUE(std::holds_alternative<DatagramError>(set));
  EXPECT_EQ(std::get<DatagramError>(set), DatagramError::kBadUserId);
}

TEST(ErrorReplyFor, OnlyGetsAreAnswered) {
  EXPECT_EQ(ErrorReplyFor("GET", DatagramError::kMalformed), Reply::kBadRequest);
  EXPECT_EQ(ErrorReplyFor("get a b\n", DatagramError::kMalformed), Reply::kBadRequest);
  EXPECT_EQ(ErrorReplyFor("GET b@d", DatagramError::kBadUserId), Reply::kNoSuchUser);
  EXPECT_EQ(ErrorReplyFor("SET alice AWAY 1", DatagramError::kMalformed), std::nullopt);
  EXPECT_EQ(ErrorReplyFor("SET b@d ONLINE 1", DatagramError::kBadUserId), std::nullopt);
  EXPECT_EQ(ErrorReplyFor("GARBAGE", DatagramError::kMalformed), std::nullopt);
  EXPECT_EQ(ErrorReplyFor("", DatagramError::kMalformed), std::nullopt);
  EXPECT_EQ(ErrorReplyFor("GETX alice", DatagramError::kMalformed), std::nullopt);
}

TEST(Format, SetAndGetRoundTrip) {
  EXPECT_EQ(FormatSet("alice", true, 4000), "SET alice ONLINE 4000\n");
  EXPECT_EQ(FormatSet("alice", false, 0), "SET alice OFFLINE 0\n");
  EXPECT_EQ(FormatGet("alice"), "GET alice\n");
  EXPECT_TRUE(std::holds_alternative<SetPresence>(ParseDatagram(FormatSet("a", true, 1))));
  EXPECT_TRUE(std::holds_alternative<GetBuddies>(ParseDatagram(FormatGet("a"))));
}

constexpr char kKey[] = "CCCCCCCCCCCCCCCCCCCCCC";  // a chat key fingerprint: 22 characters

TEST(ChatKeys, SetCarriesAFingerprintAndGetAsksForThem) {
  auto set = ParseDatagram(std::string("SET alice ONLINE 4000 k=") + kKey);
  ASSERT_TRUE(std::holds_alternative<SetPresence>(set));
  EXPECT_EQ(std::get<SetPresence>(set).chat_key, kKey);
  EXPECT_EQ(FormatSet("alice", true, 4000, {}, kKey), std::string("SET alice ONLINE 4000 k=") + kKey + "\n");
  // OFFLINE publishes no key, whatever the datagram says.
  auto off = ParseDatagram(std::string("SET alice OFFLINE 0 k=") + kKey);
  ASSERT_TRUE(std::holds_alternative<SetPresence>(off));
  EXPECT_EQ(std::get<SetPresence>(off).chat_key, "");

  auto get = ParseDatagram("GET alice k=1");
  ASSERT_TRUE(std::holds_alternative<GetBuddies>(get));
  EXPECT_TRUE(std::get<GetBuddies>(get).with_keys);
  EXPECT_FALSE(std::get<GetBuddies>(ParseDatagram("GET alice")).with_keys);
  EXPECT_EQ(FormatGet("alice", {}, true), "GET alice k=1\n");
}

TEST(ChatKeys, AMalformedKeyFieldIsAMalformedDatagram) {
  for (std::string text : {std::string("SET alice ONLINE 4000 k=short"), std::string("SET alice ONLINE 4000 k=") + kKey + "C",
                           std::string("SET alice ONLINE 4000 k=") + std::string(21, 'C') + "+",
                           std::string("SET alice ONLINE 4000 k=") + kKey + " k=" + kKey, std::string("GET alice k=0"),
                           std::string("GET alice k=") + kKey, std::string("GET alice k=1 k=1")}) {
    auto parsed = ParseDatagram(text);
    ASSERT_TRUE(std::holds_alternative<DatagramError>(parsed)) << text;
  }
}

TEST(ChatKeys, BuddyLinesCarryTheKeyOnlyWhenOnline) {
  std::string out;
  AppendBuddyLine(&out, "alice", true, "192.168.1.5", 20001, kKey);
  AppendBuddyLine(&out, "bob", false, "ignored", 9, kKey);
  AppendBuddyLine(&out, "carol", true, "10.0.0.1", 5);
  EXPECT_EQ(out, std::string("alice 100 ONLINE 192.168.1.5 20001 k=") + kKey +
                     "\nbob 101 OFFLINE unknown 0\ncarol 100 ONLINE 10.0.0.1 5\n");
  GetReply r = ParseGetReply(out);
  ASSERT_EQ(r.kind, GetReply::Kind::kBuddies);
  ASSERT_EQ(r.buddies.size(), 3u);
  EXPECT_EQ(r.buddies[0].chat_key, kKey);
  EXPECT_EQ(r.buddies[1].chat_key, "");
  EXPECT_EQ(r.buddies[2].chat_key, "");
  // Fields a newer server may add are skipped; a key that is not one makes the line bad.
  GetReply newer = ParseGetReply(std::string("alice 100 ONLINE 1.2.3.4 5 x=future k=") + kKey + "\n");
  ASSERT_EQ(newer.kind, GetReply::Kind::kBuddies);
  EXPECT_EQ(newer.buddies[0].chat_key, kKey);
  EXPECT_EQ(ParseGetReply("alice 100 ONLINE 1.2.3.4 5 k=short\n").kind, GetReply::Kind::kMalformed);
}

constexpr char kCookie[] = "AAAAAAAAAAAAAAAAAAAAAA";  // 22 characters
constexpr char kMac[] = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";  // 43

TEST(Credentials, CookieThenProofAndTheSignedText) {
  Proof proof{"sessionsessionsession0", 1700000000000, 7, ""};
  std::string text = DatagramSignedText(FormatSet("alice", true, 4000, kCookie), proof);
  EXPECT_EQ(text, std::string("SET alice ONLINE 4000 c=") + kCookie + " p=sessionsessionsession0.1700000000000.7");
  auto parsed = ParseDatagram(SignedDatagram(text, kMac));
  ASSERT_TRUE(std::holds_alternative<SetPresence>(parsed));
  const auto& set = std::get<SetPresence>(parsed);
  EXPECT_EQ(set.msg_port, 4000);
  EXPECT_EQ(set.credentials.cookie, kCookie);
  EXPECT_EQ(set.credentials.proof.counter, 7u);
  EXPECT_EQ(set.credentials.proof.mac, kMac);
  EXPECT_EQ(set.credentials.signed_text, text);

  auto get = ParseDatagram(std::string("GET alice c=") + kCookie + "\n");
  ASSERT_TRUE(std::holds_alternative<GetBuddies>(get));
  EXPECT_EQ(std::get<GetBuddies>(get).credentials.cookie, kCookie);
  EXPECT_TRUE(std::get<GetBuddies>(get).credentials.proof.empty());
  EXPECT_TRUE(std::get<GetBuddies>(get).credentials.signed_text.empty());
}

TEST(Credentials, MalformedOrOutOfOrderIsMalformed) {
  std::string proof = std::string("p=sessionsessionsession0.1.1.") + kMac;
  for (std::string text : {std::string("GET alice c=short"), std::string("GET alice ") + proof + " c=" + kCookie,
                           std::string("GET alice c=") + kCookie + " c=" + kCookie, std::string("GET alice p=x.1.1.") + kMac,
                           std::string("SET alice ONLINE 1 ") + proof + " " + proof, std::string("GET alice x=1")}) {
    auto parsed = ParseDatagram(text);
    ASSERT_TRUE(std::holds_alternative<DatagramError>(parsed)) << text;
  }
}

TEST(ParseDatagram, CookieRequest) {
  EXPECT_TRUE(std::holds_alternative<CookieRequest>(ParseDatagram(FormatCookieRequest())));
  EXPECT_TRUE(std::holds_alternative<CookieRequest>(ParseDatagram("cookie")));
  EXPECT_TRUE(std::holds_alternative<DatagramError>(ParseDatagram("COOKIE please")));
}

TEST(ParseGetReply, CookieAndUnauthorized) {
  auto cookie = ParseGetReply(FormatCookieReply(kCookie));
  EXPECT_EQ(cookie.kind, GetReply::Kind::kCookie);
  EXPECT_EQ(cookie.cookie, kCookie);
  EXPECT_EQ(ParseGetReply("COOKIE short\n").kind, GetReply::Kind::kMalformed);
  EXPECT_EQ(ParseGetReply(FormatCookieReply(kCookie) + "bob 101 OFFLINE unknown 0\n").kind, GetReply::Kind::kMalformed);
  EXPECT_EQ(ParseGetReply("401 UNAUTHORIZED\n").kind, GetReply::Kind::kUnauthorized);
}

TEST(BuddyLines, FormatExactlyAsDocumented) {
  std::string out;
  AppendBuddyLine(&out, "alice", true, "192.168.1.5", 20001);
  AppendBuddyLine(&out, "bob", false, "ignored", 9);
  EXPECT_EQ(out, "alice 100 ONLINE 192.168.1.5 20001\nbob 101 OFFLINE unknown 0\n");
}

TEST(ParseGetReply, BuddyList) {
  GetReply r = ParseGetReply("alice 100 ONLINE 192.168.1.5 20001\nbob 101 OFFLINE unknown 0\n");
  ASSERT_EQ(r.kind, GetReply::Kind::kBuddies);
  ASSERT_EQ(r.buddies.size(), 2u);
  EXPECT_EQ(r.buddies[0].id, "alice");
  EXPECT_TRUE(r.buddies[0].online);
  EXPECT_EQ(r.buddies[0].ip, "192.168.1.5");
  EXPECT_EQ(r.buddies[0].msg_port, 20001);
  EXPECT_EQ(r.buddies[1].id, "bob");
  EXPECT_FALSE(r.buddies[1].online);
  EXPECT_EQ(r.buddies[1].ip, "unknown");
}

TEST(ParseGetReply, OfflineBuddiesHaveNoAddress) {
  GetReply r = ParseGetReply("bob 101 OFFLINE 10.0.0.1 99\n");  // found by the fuzzer
  ASSERT_EQ(r.kind, GetReply::Kind::kBuddies);
  ASSERT_EQ(r.buddies.size(), 1u);
  EXPECT_EQ(r.buddies[0].ip, "unknown");
  EXPECT_EQ(r.buddies[0].msg_port, 0);
}

TEST(ParseGetReply, EmptyAndErrors) {
  GetReply empty = ParseGetReply("");
  EXPECT_EQ(empty.kind, GetReply::Kind::kBuddies);
  EXPECT_TRUE(empty.buddies.empty());
  EXPECT_EQ(ParseGetReply("202 NO SUCH USER\n").kind, GetReply::Kind::kNoSuchUser);
  EXPECT_EQ(ParseGetReply("400 BAD REQUEST\n").kind, GetReply::Kind::kBadRequest);
  EXPECT_EQ(ParseGetReply("500 SERVER ERROR\n").kind, GetReply::Kind::kServerError);
  EXPECT_EQ(ParseGetReply("alice 100 ONLINE 1.2.3.4\n").kind, GetReply::Kind::kMalformed);
  EXPECT_EQ(ParseGetReply("alice 100 OFFLINE unknown 0\n").kind, GetReply::Kind::kMalformed);
  EXPECT_EQ(ParseGetReply("al!ce 101 OFFLINE unknown 0\n").kind, GetReply::Kind::kMalformed);
  EXPECT_EQ(ParseGetReply("alice 100 ONLINE ::1 99999\n").kind, GetReply::Kind::kMalformed);
}

}  // namespace
}  // namespace im::proto
