// The computations behind passwords, proofs and cookies: pure, no I/O.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "auth/cookie.h"
#include "auth/keys.h"
#include "auth/password.h"
#include "auth/rate_limiter.h"
#include "auth/replay_window.h"
#include "net/address.h"

namespace im::auth {
namespace {

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(Init()); }
};

TEST_F(AuthTest, Base64UrlRoundTripsAndRejectsOtherAlphabets) {
  std::string bytes = RandomBytes(32);
  EXPECT_EQ(bytes.size(), 32u);
  EXPECT_NE(bytes, RandomBytes(32));
  std::string text = EncodeBase64Url(bytes);
  EXPECT_EQ(text.size(), 43u) << "no padding";
  EXPECT_EQ(DecodeBase64Url(text), bytes);
  EXPECT_EQ(DecodeBase64Url("ab+/"), std::nullopt);
  EXPECT_EQ(DecodeBase64Url("abc="), std::nullopt);
}

TEST_F(AuthTest, MacsCoverEveryByteAndNeedTheKey) {
  std::string key = RandomBytes(32);
  std::string mac = Mac(key, "ADD alice bob S.1.2");
  EXPECT_EQ(mac.size(), 43u);
  EXPECT_TRUE(VerifyMac(key, "ADD alice bob S.1.2", mac));
  EXPECT_FALSE(VerifyMac(key, "ADD alice bob S.1.3", mac));
  EXPECT_FALSE(VerifyMac(RandomBytes(32), "ADD alice bob S.1.2", mac));
  EXPECT_FALSE(VerifyMac(key.substr(1), "ADD alice bob S.1.2", mac)) << "a short key";
  EXPECT_FALSE(VerifyMac(key, "ADD alice bob S.1.2", mac.substr(1)));
  EXPECT_FALSE(VerifyMac(key, "ADD alice bob S.1.2", "!" + mac.substr(1)));
}

// The precomputed key is the same HMAC: it accepts exactly what VerifyMac accepts, on
// every check, however many it has done.
TEST_F(AuthTest, AMacKeyAcceptsExactlyWhatVerifyMacAccepts) {
  std::string key = RandomBytes(32);
  MacKey mac_key(key);
  ASSERT_TRUE(mac_key.valid());
  for (int i = 0; i < 50; ++i) {
    std::string text = "SET alice ONLINE 4444 c=x p=S.1." + std::to_string(i) + std::string(static_cast<size_t>(i) * 7, 'z');
    std::string mac = Mac(key, text);
    EXPECT_TRUE(mac_key.Verify(text, mac)) << i;
    EXPECT_FALSE(mac_key.Verify(text + "!", mac)) << i;
    EXPECT_FALSE(mac_key.Verify(text, Mac(RandomBytes(32), text))) << i;
  }
  std::string mac = Mac(key, "GET alice");
  EXPECT_FALSE(mac_key.Verify("GET alice", mac.substr(1)));
  EXPECT_FALSE(mac_key.Verify("GET alice", mac + "A"));
  EXPECT_FALSE(mac_key.Verify("GET alice", "!" + mac.substr(1)));
  EXPECT_FALSE(MacKey(key.substr(1)).valid()) << "a short key";
  EXPECT_FALSE(MacKey().Verify("GET alice", mac));
}

TEST_F(AuthTest, DerivedKeysDependOnEverythingTheyAreBoundTo) {
  std::string secret = RandomBytes(32);
  EXPECT_NE(DeriveKey(secret, "cookie", ""), DeriveKey(secret, "session", ""));
  EXPECT_NE(DeriveKey(secret, "ab", "c"), DeriveKey(secret, "a", "bc")) << "parts are length-prefixed";
  std::string key = SessionKey(secret, "S", "alice", 1000);
  EXPECT_EQ(key.size(), 32u);
  EXPECT_EQ(key, SessionKey(secret, "S", "alice", 1000)) << "every server derives the same";
  std::set<std::string> others = {SessionKey(secret, "T", "alice", 1000), SessionKey(secret, "S", "bob", 1000),
                                  SessionKey(secret, "S", "alice", 1001), SessionKey(RandomBytes(32), "S", "alice", 1000)};
  EXPECT_EQ(others.size(), 4u);
  EXPECT_EQ(others.count(key), 0u);
}

TEST_F(AuthTest, CookiesAreBoundToAddressPortAndTime) {
  CookieJar jar(RandomBytes(32));
  sockaddr_storage a, a_other_port, b, v6;
  ASSERT_TRUE(net::ParseIp("192.0.2.1", 5000, &a));
  ASSERT_TRUE(net::ParseIp("192.0.2.1", 5001, &a_other_port));
  ASSERT_TRUE(net::ParseIp("192.0.2.2", 5000, &b));
  ASSERT_TRUE(net::ParseIp("::1", 5000, &v6));
  auto* pa = reinterpret_cast<sockaddr*>(&a);
  int64_t now = 10 * CookieJar::kEpochMs + 5;
  std::string cookie = jar.Issue(pa, now);
  EXPECT_EQ(cookie.size(), 22u);
  EXPECT_TRUE(jar.Valid(pa, cookie, now));
  EXPECT_TRUE(jar.Valid(pa, cookie, now + CookieJar::kEpochMs)) << "good in the next epoch too";
  EXPECT_FALSE(jar.Valid(pa, cookie, now + 2 * CookieJar::kEpochMs)) << "then stale";
  EXPECT_FALSE(jar.Valid(reinterpret_cast<sockaddr*>(&a_other_port), cookie, now));
  EXPECT_FALSE(jar.Valid(reinterpret_cast<sockaddr*>(&b), cookie, now));
  EXPECT_FALSE(jar.Valid(reinterpret_cast<sockaddr*>(&v6), cookie, now));
  EXPECT_FALSE(CookieJar(RandomBytes(32)).Valid(pa, cookie, now)) << "another secret";
  EXPECT_FALSE(jar.Valid(pa, cookie.substr(1), now));
}

// Valid remembers the cookies that passed; the answers stay those of the MAC, across
// epochs and when more sources than its slots evict one another.
TEST_F(AuthTest, TheCookieMemoNeverChangesAnAnswer) {
  CookieJar jar(RandomBytes(32));
  int64_t now = 10 * CookieJar::kEpochMs;
  std::vector<sockaddr_storage> from(3000);
  std::vector<std::string> cookies;
  for (size_t i = 0; i < from.size(); ++i) {
    ASSERT_TRUE(net::ParseIp("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250), 4000 + i % 7,
                             &from[i]));
    cookies.push_back(jar.Issue(reinterpret_cast<sockaddr*>(&from[i]), now));
  }
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < from.size(); ++i) {
      auto* a = reinterpret_cast<sockaddr*>(&from[i]);
      ASSERT_TRUE(jar.Valid(a, cookies[i], now)) << i;
      ASSERT_FALSE(jar.Valid(a, cookies[(i + 1) % from.size()], now)) << "another source's cookie";
    }
  }
  auto* a = reinterpret_cast<sockaddr*>(&from[0]);
  std::string next = jar.Issue(a, now + CookieJar::kEpochMs);
  EXPECT_TRUE(jar.Valid(a, next, now + CookieJar::kEpochMs));
  EXPECT_TRUE(jar.Valid(a, cookies[0], now + CookieJar::kEpochMs)) << "the last epoch's, still good";
  EXPECT_FALSE(jar.Valid(a, cookies[0], now + 2 * CookieJar::kEpochMs)) << "remembered, but stale";
  EXPECT_FALSE(jar.Valid(a, cookies[0], now - CookieJar::kEpochMs)) << "nor before it was made";
  EXPECT_TRUE(jar.Valid(a, next, now + 2 * CookieJar::kEpochMs));
}

TEST_F(AuthTest, PasswordsHashToArgon2idAndVerify) {
  std::string hash = HashPassword("correct-horse", PasswordCost::kMinimum);
  ASSERT_FALSE(hash.empty());
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u);
  EXPECT_EQ(hash.find("correct-horse"), std::string::npos);
  EXPECT_NE(hash, HashPassword("correct-horse", PasswordCost::kMinimum)) << "salted";
  EXPECT_TRUE(VerifyPassword(hash, "correct-horse"));
  EXPECT_FALSE(VerifyPassword(hash, "correct-horsf"));
  EXPECT_FALSE(VerifyPassword("", "correct-horse"));
  EXPECT_FALSE(VerifyPassword("$argon2id$garbage", "correct-horse"));
  EXPECT_EQ(ParsePasswordCost("moderate"), PasswordCost::kModerate);
  EXPECT_EQ(ParsePasswordCost("cheap"), std::nullopt);
}

TEST(ReplayWindow, AcceptsEachCounterOnceInAnyOrderWithinTheWindow) {
  ReplayWindow w(10);  // loaded from the store: 1..10 are used
  EXPECT_FALSE(w.Fresh(10));
  EXPECT_FALSE(w.Fresh(3));
  EXPECT_FALSE(w.Fresh(0));
  EXPECT_TRUE(w.Fresh(12));
  w.Accept(12);
  EXPECT_FALSE(w.Fresh(12));
  EXPECT_TRUE(w.Fresh(11)) << "above the loaded highest and never seen";
  EXPECT_FALSE(w.Fresh(10)) << "the loaded ones stay seen as the window moves";
  w.Accept(20);
  EXPECT_TRUE(w.Fresh(15)) << "late but not seen";
  w.Accept(15);
  EXPECT_FALSE(w.Fresh(15));
  EXPECT_FALSE(w.Fresh(12));
  w.Accept(200);
  EXPECT_TRUE(w.Fresh(199));
  EXPECT_TRUE(w.Fresh(137));
  EXPECT_FALSE(w.Fresh(136)) << "64 behind: too old to tell";
  EXPECT_EQ(w.highest(), 200u);
}

TEST(RateLimiter, BurstThenRefill) {
  RateLimiter limiter(10, 3);  // 10 a second, 3 at once
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Take("a", 1000));
  EXPECT_FALSE(limiter.Take("a", 1000));
  EXPECT_FALSE(limiter.Has("a", 1000));
  EXPECT_TRUE(limiter.Take("b", 1000)) << "per key";
  EXPECT_TRUE(limiter.Has("a", 1100));
  EXPECT_TRUE(limiter.Take("a", 1100));
  EXPECT_FALSE(limiter.Take("a", 1100));
  EXPECT_TRUE(limiter.Has("never-seen", 0));
}

TEST(RateLimiter, AFullTableDropsOnlyWhatRemembersNothing) {
  RateLimiter limiter(1, 2, 16);
  ASSERT_TRUE(limiter.Take("victim", 0));
  ASSERT_TRUE(limiter.Take("victim", 0));
  ASSERT_FALSE(limiter.Take("victim", 0));
  // Keys that took one token at time 0 have refilled by time 5000; the victim's bucket
  // was emptied at 4900 and has not.
  for (int i = 0; i < 15; ++i) limiter.Take("spray" + std::to_string(i), 0);
  limiter.Take("victim", 4900);
  limiter.Take("victim", 4900);
  EXPECT_FALSE(limiter.Take("victim", 4900));
  EXPECT_TRUE(limiter.Take("newcomer", 5000));  // the table is full: the sprayed keys go
  EXPECT_FALSE(limiter.Take("victim", 4950)) << "the victim's empty bucket survived the sweep";
}

}  // namespace
}  // namespace im::auth
