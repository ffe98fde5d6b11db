// client/session: the proofs a granted session puts on requests, checked the way the
// server checks them (proto's parsers, auth::VerifyMac).
#include "client/session.h"

#include <gtest/gtest.h>

#include "auth/keys.h"
#include "proto/presence.h"

namespace im::client {
namespace {

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(auth::Init());
    key_ = auth::RandomBytes(32);
    grant_ = {auth::EncodeBase64Url(auth::RandomBytes(16)), auth::EncodeBase64Url(key_), 9'000'000, 1'000'000};
  }
  std::string key_;
  proto::SessionGrant grant_;
};

TEST_F(SessionTest, ARejectedKeyGivesNoSession) {
  grant_.key = auth::EncodeBase64Url(auth::RandomBytes(31));
  EXPECT_FALSE(Session::FromGrant(grant_, 0).has_value());
  grant_.key = "not base64url!";
  EXPECT_FALSE(Session::FromGrant(grant_, 0).has_value());
}

TEST_F(SessionTest, AddAndDelCarryAProofTheServerAccepts) {
  auto session = Session::FromGrant(grant_, 400'000);  // our clock is 600 s behind
  ASSERT_TRUE(session);
  for (uint64_t n = 1; n <= 3; ++n) {
    proto::Request request{proto::Verb::kAdd, "alice", "bob"};
    session->Prove(&request, 400'000 + static_cast<int64_t>(n));
    std::string line = proto::FormatRequest(request);
    line.pop_back();  // the "\n"
    auto parsed = proto::ParseRequest(line);
    ASSERT_TRUE(std::holds_alternative<proto::Request>(parsed));
    const proto::Proof& proof = std::get<proto::Request>(parsed).proof;
    EXPECT_EQ(proof.session, grant_.session);
    EXPECT_EQ(proof.time_ms, 1'000'000 + static_cast<int64_t>(n));  // the server's clock
    EXPECT_EQ(proof.counter, n);                                     // from 1, growing
    EXPECT_TRUE(auth::VerifyMac(key_, proto::SignedText(std::get<proto::Request>(parsed)), proof.mac));
  }
}

TEST_F(SessionTest, DatagramsHaveTheirOwnCounterAndSignTheCookie) {
  auto session = Session::FromGrant(grant_, 1'000'000);
  ASSERT_TRUE(session);
  proto::Request request{proto::Verb::kDel, "alice", "bob"};
  session->Prove(&request, 1'000'000);
  std::string cookie(proto::kCookieChars, 'C');
  std::string first = session->ProveDatagram(proto::FormatSet("alice", true, 4444, cookie), 1'000'010);
  std::string second = session->ProveDatagram(proto::FormatGet("alice", cookie), 1'000'020);
  auto set = proto::ParseDatagram(first);
  ASSERT_TRUE(std::holds_alternative<proto::SetPresence>(set)) << first;
  const auto& creds = std::get<proto::SetPresence>(set).credentials;
  EXPECT_EQ(creds.cookie, cookie);
  EXPECT_EQ(creds.proof.counter, 1u);  // not 2: ADD/DEL count separately
  EXPECT_EQ(creds.proof.time_ms, 1'000'010);
  EXPECT_TRUE(auth::VerifyMac(key_, creds.signed_text, creds.proof.mac));
  EXPECT_NE(creds.signed_text.find(" c=" + cookie + " p="), std::string::npos);
  auto get = proto::ParseDatagram(second);
  ASSERT_TRUE(std::holds_alternative<proto::GetBuddies>(get)) << second;
  EXPECT_EQ(std::get<proto::GetBuddies>(get).credentials.proof.counter, 2u);
  // A changed byte, e.g. another port, breaks the MAC.
  std::string tampered = first;
  tampered.replace(tampered.find("4444"), 4, "4445");
  auto parsed = proto::ParseDatagram(tampered);
  const auto& bad = std::get<proto::SetPresence>(parsed).credentials;
  EXPECT_FALSE(auth::VerifyMac(key_, bad.signed_text, bad.proof.mac));
}

}  // namespace
}  // namespace im::client
