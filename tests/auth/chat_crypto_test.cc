// auth/chat_crypto: the encrypted chat's handshake and records, both sides in one process.
#include "auth/chat_crypto.h"

#include <gtest/gtest.h>

#include "proto/presence.h"

namespace im::auth {
namespace {

// Both halves of a handshake between `caller` and `callee`, as the wire would carry it.
struct Pair {
  Pair(const ChatIdentity& caller, const ChatIdentity& callee) : a(caller, true), b(callee, false) {}
  ChatHandshake a;  // the caller
  ChatHandshake b;  // the callee
};

TEST(ChatFingerprint, IsShortStableAndDiffersPerKey) {
  ChatIdentity one = ChatIdentity::Generate();
  ChatIdentity two = ChatIdentity::Generate();
  EXPECT_EQ(one.fingerprint().size(), proto::kChatKeyChars);
  EXPECT_EQ(one.fingerprint(), ChatFingerprint(one.public_key()));
  EXPECT_NE(one.fingerprint(), two.fingerprint());
}

TEST(ChatHandshake, BothSidesDeriveTheSameKeysPerDirection) {
  ChatIdentity alice = ChatIdentity::Generate();
  ChatIdentity bob = ChatIdentity::Generate();
  Pair p(alice, bob);
  ASSERT_TRUE(p.b.Derive(p.a.ephemeral_public(), alice.public_key()));
  ASSERT_TRUE(p.a.Derive(p.b.ephemeral_public(), bob.public_key()));

  std::string header;
  ChatStream alice_out = p.a.StartSending(&header);
  auto bob_in = p.b.StartReceiving(header);
  ASSERT_TRUE(bob_in.has_value());
  std::string bob_header;
  ChatStream bob_out = p.b.StartSending(&bob_header);
  auto alice_in = p.a.StartReceiving(bob_header);
  ASSERT_TRUE(alice_in.has_value());

  EXPECT_EQ(bob_in->Open(alice_out.Seal("MSG hi bob")), "MSG hi bob");
  EXPECT_EQ(alice_in->Open(bob_out.Seal("MSG hi alice")), "MSG hi alice");
  std::string record = alice_out.Seal("MSG secret words");
  EXPECT_EQ(record.find("secret"), std::string::npos);
  // A direction's key is not the other's: alice cannot open her own record.
  auto alice_in2 = p.a.StartReceiving(header);
  ASSERT_TRUE(alice_in2.has_value());
  EXPECT_FALSE(alice_in2->Open(record).has_value());
}

TEST(ChatHandshake, AnyoneWithoutThePinnedSecretDerivesOtherKeys) {
  ChatIdentity alice = ChatIdentity::Generate();
  ChatIdentity bob = ChatIdentity::Generate();
  ChatIdentity mallory = ChatIdentity::Generate();
  // Mallory answers alice's call as bob: she shows bob's public key (it is public) but
  // can only compute with her own secret.
  ChatHandshake caller(alice, true);
  ChatHandshake fake_callee(mallory, false);
  ASSERT_TRUE(fake_callee.Derive(caller.ephemeral_public(), alice.public_key()));
  ASSERT_TRUE(caller.Derive(fake_callee.ephemeral_public(), bob.public_key()));  // alice pinned bob
  std::string header;
  ChatStream forged = fake_callee.StartSending(&header);
  auto alice_in = caller.StartReceiving(header);
  ASSERT_TRUE(alice_in.has_value());
  EXPECT_FALSE(alice_in->Open(forged.Seal("")).has_value());  // the key confirmation fails
}

TEST(ChatHandshake, ALowOrderPointIsRefused) {
  ChatIdentity alice = ChatIdentity::Generate();
  ChatHandshake h(alice, true);
  std::string zero(32, '\0');  // the identity point: every DH with it is zero
  EXPECT_FALSE(h.Derive(zero, alice.public_key()));
  ChatHandshake h2(alice, true);
  EXPECT_FALSE(h2.Derive(std::string(31, 'x'), alice.public_key()));  // wrong length
}

class ChatStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Pair p(alice_, bob_);
    ASSERT_TRUE(p.b.Derive(p.a.ephemeral_public(), alice_.public_key()));
    ASSERT_TRUE(p.a.Derive(p.b.ephemeral_public(), bob_.public_key()));
    out_.emplace(p.a.StartSending(&header_));
    in_ = p.b.StartReceiving(header_);
    ASSERT_TRUE(in_.has_value());
  }
  ChatIdentity alice_ = ChatIdentity::Generate();
  ChatIdentity bob_ = ChatIdentity::Generate();
  std::string header_;
  std::optional<ChatStream> out_;
  std::optional<ChatStream> in_;
};

TEST_F(ChatStreamTest, AnAlteredRecordIsRefused) {
  std::string record = out_->Seal("MSG pay 10");
  for (size_t i = 0; i < record.size(); i += 7) {
    std::string bad = record;
    bad[i] = static_cast<char>(bad[i] ^ 1);
    EXPECT_FALSE(in_->Open(bad).has_value()) << "byte " << i;
  }
  EXPECT_FALSE(in_->Open(record.substr(0, record.size() - 1)).has_value());
  EXPECT_FALSE(in_->Open("").has_value());
}

TEST_F(ChatStreamTest, AReplayedOrReorderedRecordIsRefused) {
  std::string first = out_->Seal("MSG one");
  std::string second = out_->Seal("MSG two");
  EXPECT_FALSE(in_->Open(second).has_value()) << "second before first";
  // The failed open did not move the stream on: the first still opens, in order.
  EXPECT_EQ(in_->Open(first), "MSG one");
  EXPECT_FALSE(in_->Open(first).has_value()) << "replayed";
  EXPECT_EQ(in_->Open(second), "MSG two");
}

TEST_F(ChatStreamTest, AMalformedHeaderIsRefused) {
  ChatHandshake h(alice_, true);
  ASSERT_TRUE(h.Derive(ChatHandshake(bob_, false).ephemeral_public(), bob_.public_key()));
  EXPECT_FALSE(h.StartReceiving(header_.substr(1)).has_value());
}

}  // namespace
}  // namespace im::auth
