// Protected accounts against a real im-server, tried as an attacker would: passwords,
// sessions and proofs on the TCP port; forged, replayed and moved datagrams, strangers'
// SETs and reflection on the UDP port. Raw sockets on loopback; 127.0.0.2 is "another host".
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "auth/keys.h"
#include "proto/presence.h"
#include "proto/request.h"
#include "tests/server/server_fixture.h"

namespace im::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kPassword[] = "correct horse";  // has a space: invalid on purpose
constexpr char kGood[] = "correct-horse-battery";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class AuthTest : public ServerTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(auth::Init());
    Start({"--password-cost", "minimum"});
  }
  // REG with a password; the grant if the reply carried one.
  std::optional<proto::SessionGrant> LogIn(const std::string& user, const std::string& password,
                                           std::string* reply_out = nullptr) {
    std::string reply = Request("REG " + user + " " + password);
    if (reply_out) *reply_out = reply;
    return proto::ParseGrant(reply);
  }
  static std::string Key(const proto::SessionGrant& grant) { return *auth::DecodeBase64Url(grant.key); }
  // An ADD/DEL line proven with the grant.
  static std::string Proven(proto::Verb verb, const std::string& user, const std::string& buddy,
                            const proto::SessionGrant& grant, uint64_t counter, int64_t skew_ms = 0) {
    proto::Request r{verb, user, buddy};
    r.proof = proto::Proof{grant.session, grant.server_now_ms + skew_ms, counter, ""};
    r.proof.mac = auth::Mac(Key(grant), proto::SignedText(r));
    std::string line = proto::FormatRequest(r);
    line.pop_back();
    return line;
  }
  static std::string SignedDatagram(const std::string& unsigned_datagram, const proto::SessionGrant& grant,
                                    uint64_t counter) {
    proto::Proof proof{grant.session, grant.server_now_ms, counter, ""};
    std::string text = proto::DatagramSignedText(unsigned_datagram, proof);
    return proto::SignedDatagram(text, auth::Mac(Key(grant), text));
  }
  // One request line from another local address (a second "host" on loopback).
  std::string RequestFrom(const std::string& from, const std::string& line) {
    int fd = ConnectTcp(server_.tcp_port, "127.0.0.1", from);
    if (fd < 0) return "(no connection)";
    std::string bytes = line + "\n";
    std::string out;
    if (write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size())) {
      shutdown(fd, SHUT_WR);
      ReadUntilClosed(fd, &out, 5000);
    }
    close(fd);
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  // The cookie for `udp`'s address: a bare proof-less GET of a user with no buddies is
  // answered directly, so ask with a proof and no cookie, which always gets one.
  std::string CookieFor(const UdpClient& udp, const proto::SessionGrant& grant, const std::string& user) {
    auto reply = udp.Ask(server_.udp_port, SignedDatagram(proto::FormatGet(user), grant, 1));
    if (!reply) return "";
    auto parsed = proto::ParseGetReply(*reply);
    return parsed.kind == proto::GetReply::Kind::kCookie ? parsed.cookie : "";
  }
};

TEST_F(AuthTest, RegisterLogInAndEveryWayToGetItWrong) {
  std::string reply;
  auto created = LogIn("alice", kGood, &reply);
  ASSERT_TRUE(created) << reply;
  EXPECT_TRUE(reply.starts_with("200 OK ")) << reply;
  auto again = LogIn("alice", kGood, &reply);
  ASSERT_TRUE(again) << reply;
  EXPECT_TRUE(reply.starts_with("210 LOGGED IN ")) << reply;
  EXPECT_NE(again->session, created->session) << "every log-in is a new session";
  EXPECT_EQ(Request("REG alice wrong-password"), "204 WRONG PASSWORD");
  EXPECT_EQ(Request("REG alice"), "205 PASSWORD REQUIRED") << "a bare REG must not look like a log-in";
  EXPECT_EQ(Request(std::string("REG alice ") + kPassword), "400 BAD REQUEST") << "three words and a space";
  EXPECT_EQ(Request("REG alice short"), "207 BAD PASSWORD");
  ASSERT_EQ(Request("REG bob"), "200 OK");
  EXPECT_EQ(Request(std::string("REG bob ") + kGood), "206 ACCOUNT HAS NO PASSWORD");

  // Only the Argon2id hash is stored; neither the password nor a session key is anywhere.
  std::string db = StoredText();
  EXPECT_EQ(db.find(kGood), std::string::npos);
  EXPECT_NE(db.find("$argon2id$"), std::string::npos);
  EXPECT_EQ(db.find(created->key), std::string::npos);
  std::string log = ReadFile(this->log());
  EXPECT_EQ(log.find(kGood), std::string::npos) << log;
  EXPECT_EQ(log.find(created->key), std::string::npos) << log;
}

TEST_F(AuthTest, OnlyTheOwnerChangesAProtectedList) {
  auto alice = LogIn("alice", kGood);
  ASSERT_TRUE(alice);
  ASSERT_EQ(Request("REG bob"), "200 OK");
  ASSERT_EQ(Request("REG carol"), "200 OK");
  EXPECT_EQ(Request("ADD alice bob"), "401 UNAUTHORIZED") << "a stranger without proof";
  EXPECT_EQ(Request(Proven(proto::Verb::kAdd, "alice", "bob", *alice, 1)), "200 OK");
  EXPECT_EQ(Request(Proven(proto::Verb::kAdd, "alice", "carol", *alice, 2)), "200 OK");
  EXPECT_EQ(Request("DEL alice bob"), "401 UNAUTHORIZED");
  std::string replayed = Proven(proto::Verb::kDel, "alice", "bob", *alice, 3);
  EXPECT_EQ(Request(replayed), "200 OK");
  EXPECT_EQ(Request(Proven(proto::Verb::kAdd, "alice", "bob", *alice, 4)), "200 OK");
  EXPECT_EQ(Request(replayed), "401 UNAUTHORIZED") << "a replay";
  std::string forged = Proven(proto::Verb::kDel, "alice", "bob", *alice, 5);
  forged.replace(forged.find(" bob "), 5, " carol ");  // the MAC was over bob
  EXPECT_EQ(Request(forged), "401 UNAUTHORIZED");
  EXPECT_EQ(Request(Proven(proto::Verb::kDel, "alice", "bob", *alice, 6, -120000)), "401 UNAUTHORIZED")
      << "two minutes old";
  // A stranger with his own session cannot use it for alice.
  auto mallory = LogIn("mallory", kGood);
  ASSERT_TRUE(mallory);
  std::string borrowed = Proven(proto::Verb::kDel, "alice", "bob", *mallory, 7);
  EXPECT_EQ(Request(borrowed), "401 UNAUTHORIZED");
  // What the refused requests did not change: bob and carol are still alice's buddies.
  EXPECT_EQ(Request(Proven(proto::Verb::kAdd, "alice", "bob", *alice, 8)), "201 ALREADY BUDDY");
  EXPECT_EQ(Request(Proven(proto::Verb::kAdd, "alice", "carol", *alice, 9)), "201 ALREADY BUDDY");
}

TEST_F(AuthTest, WrongPasswordsAreThrottledWithoutHashing) {
  std::string first;
  ASSERT_TRUE(LogIn("alice", kGood, &first)) << first << "\n" << ReadFile(log());
  int wrong = 0, later = 0;
  for (int i = 0; i < 8; ++i) {
    std::string reply = Request("REG alice guess-number-" + std::to_string(i));
    wrong += reply == "204 WRONG PASSWORD";
    later += reply == "429 TRY LATER";
  }
  EXPECT_EQ(wrong, 5) << "five a minute per account";
  EXPECT_EQ(later, 3);
  std::string reply;
  LogIn("alice", kGood, &reply);
  EXPECT_EQ(reply, "429 TRY LATER") << "even the right password waits: the guesser cannot tell";
}

TEST_F(AuthTest, RequiredAuthRefusesBareRegistration) {
  Start({"--password-cost", "minimum", "--auth", "required"});
  EXPECT_EQ(Request("REG carol"), "205 PASSWORD REQUIRED");
  std::string reply;
  EXPECT_TRUE(LogIn("carol", kGood, &reply)) << reply << "\n" << ReadFile(log());
}

TEST_F(AuthTest, AStrangersSetDoesNotMoveAProtectedUser) {
  auto alice = LogIn("alice", kGood);
  auto bob = LogIn("bob", kGood);
  ASSERT_TRUE(alice && bob);
  ASSERT_EQ(Request(Proven(proto::Verb::kAdd, "alice", "bob", *alice, 1)), "200 OK");

  UdpClient bob_udp("127.0.0.1"), stranger("127.0.0.2"), alice_udp("127.0.0.1");
  std::string bob_cookie = CookieFor(bob_udp, *bob, "bob");
  ASSERT_EQ(bob_cookie.size(), proto::kCookieChars);
  bob_udp.Send(server_.udp_port, SignedDatagram(proto::FormatSet("bob", true, 7000, bob_cookie), *bob, 2));
  // The stranger: a bare SET, and bob's own datagram replayed from his address.
  stranger.Send(server_.udp_port, "SET bob ONLINE 6666");
  stranger.Send(server_.udp_port, SignedDatagram(proto::FormatSet("bob", true, 6666, bob_cookie), *bob, 3));

  std::string alice_cookie = CookieFor(alice_udp, *alice, "alice");
  std::string want = "bob 100 ONLINE 127.0.0.1 7000\n";
  std::string last;
  for (uint64_t counter = 2; counter < 40 && last != want; ++counter) {
    last = alice_udp.Ask(server_.udp_port, SignedDatagram(proto::FormatGet("alice", alice_cookie), *alice, counter))
               .value_or("(none)");
    if (last != want) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(last, want);
  // Unproven, the list hides protected buddies; a protected user's own list needs proof.
  while (stranger.Receive(200)) {  // the COOKIE his replay from the wrong address got
  }
  EXPECT_EQ(stranger.Ask(server_.udp_port, "GET alice").value_or("(none)"), "401 UNAUTHORIZED\n");
  ASSERT_EQ(Request("REG carol"), "200 OK");
  ASSERT_EQ(Request("ADD carol bob"), "200 OK");
  EXPECT_EQ(stranger.Ask(server_.udp_port, "GET carol").value_or("(none)"), "bob 101 OFFLINE unknown 0\n");
}

TEST_F(AuthTest, NothingReflectsMoreThanThreeTimesItsSize) {
  ASSERT_EQ(Request("REG carol"), "200 OK");
  for (int i = 0; i < 60; ++i) {
    std::string id = "buddy" + std::to_string(i);
    ASSERT_EQ(Request("REG " + id), "200 OK");
    ASSERT_EQ(Request("ADD carol " + id), "200 OK");
  }
  UdpClient victim("127.0.0.2");
  auto reply = victim.Ask(server_.udp_port, "GET carol");
  ASSERT_TRUE(reply);
  EXPECT_LE(reply->size(), 256u) << "a 9-byte GET of a 60-line list";
  auto cookie = proto::ParseGetReply(*reply);
  ASSERT_EQ(cookie.kind, proto::GetReply::Kind::kCookie);
  auto full = victim.Ask(server_.udp_port, proto::FormatGet("carol", cookie.cookie));
  ASSERT_TRUE(full);
  EXPECT_EQ(proto::ParseGetReply(*full).buddies.size(), 60u) << "the round trip gets the list";
  // The same cookie from another address buys nothing.
  UdpClient other("127.0.0.1");
  auto moved = other.Ask(server_.udp_port, proto::FormatGet("carol", cookie.cookie));
  ASSERT_TRUE(moved);
  EXPECT_EQ(proto::ParseGetReply(*moved).kind, proto::GetReply::Kind::kCookie);

  // A flood of bare GETs at one "victim" address is answered only up to the rate limit.
  int answered = 0;
  UdpClient flood("127.0.0.3");
  for (int i = 0; i < 200; ++i) flood.Send(server_.udp_port, "GET buddy1");
  while (flood.Receive(300)) ++answered;
  EXPECT_LE(answered, 60) << "burst 40, then 20 a second";
  EXPECT_GE(answered, 1);
}

// Guessing across many accounts from one address: each account allows 5 failures a
// minute, the address 30 in all; past that even a right password is refused unhashed,
// and other addresses are not touched.
TEST_F(AuthTest, WrongPasswordsFromOneAddressAreThrottledAcrossAccounts) {
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(LogIn("user" + std::to_string(i), kGood)) << i;
  int wrong = 0, later = 0;
  auto start = Clock::now();
  for (int i = 0; i < 7; ++i) {
    for (int j = 0; j < 5; ++j) {
      std::string reply = RequestFrom("127.0.0.2", "REG user" + std::to_string(i) + " guess-number-" + std::to_string(j));
      wrong += reply == "204 WRONG PASSWORD";
      later += reply == "429 TRY LATER";
    }
  }
  std::string right = RequestFrom("127.0.0.2", std::string("REG user7 ") + kGood);
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(wrong + later, 35);
  EXPECT_GE(wrong, 30);
  EXPECT_LE(wrong, 30 + static_cast<int>(secs / 2)) << "the address refills one failure every 2 s";
  if (secs < 1.5) {
    EXPECT_EQ(right, "429 TRY LATER") << "the address has no failures left";
  }
  std::string reply;
  EXPECT_TRUE(LogIn("user7", kGood, &reply)) << "another address logs in: " << reply;
}

// Each registration with a password costs a hash: one address gets a burst of 20, then 5
// a second; another address is not touched.
TEST_F(AuthTest, RegistrationsWithAPasswordAreThrottledPerAddress) {
  std::vector<std::pair<int, std::string>> requests;
  for (int i = 0; i < 40; ++i) requests.emplace_back(server_.tcp_port, "REG new" + std::to_string(i) + " " + kGood);
  auto start = Clock::now();
  std::vector<std::string> replies = TcpRequestsAtOnce(requests);
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  int created = 0, later = 0;
  for (const std::string& r : replies) {
    created += r.starts_with("200 OK ");
    later += r == "429 TRY LATER";
  }
  EXPECT_EQ(created + later, 40);
  EXPECT_GE(created, 20) << "the burst";
  EXPECT_LE(created, 20 + static_cast<int>(5 * secs) + 1) << "then 5 a second, over " << secs << " s";
  EXPECT_TRUE(RequestFrom("127.0.0.2", std::string("REG elsewhere ") + kGood).starts_with("200 OK "));
}

// Every backend sharing the store verifies every session's proofs: a session granted by
// one server proves requests and datagrams to another, and its counters are shared.
TEST_F(AuthTest, AnotherBackendOnTheSameStoreVerifiesTheSameProofs) {
  auto alice = LogIn("alice", kGood);
  auto bob = LogIn("bob", kGood);
  ASSERT_TRUE(alice && bob);
  ServerHandle other = StartAnother("other.log", {"--password-cost", "minimum"});
  ASSERT_GT(other.tcp_port, 0);
  std::string add = Proven(proto::Verb::kAdd, "alice", "bob", *alice, 1);
  EXPECT_EQ(TcpRequest(other.tcp_port, add), "200 OK") << "a session the first server granted";
  EXPECT_EQ(Request(add), "401 UNAUTHORIZED") << "the counter is shared: a replay on the first fails";

  // Bob's SET, proven with a cookie the first server gave, to the other server; alice's
  // proven GET to the first sees it.
  UdpClient bob_udp, alice_udp;
  std::string bob_cookie = CookieFor(bob_udp, *bob, "bob");
  ASSERT_EQ(bob_cookie.size(), proto::kCookieChars);
  bob_udp.Send(other.udp_port, SignedDatagram(proto::FormatSet("bob", true, 7000, bob_cookie), *bob, 2));
  std::string alice_cookie = CookieFor(alice_udp, *alice, "alice");
  ASSERT_EQ(alice_cookie.size(), proto::kCookieChars);
  std::string want = "bob 100 ONLINE 127.0.0.1 7000\n";
  std::string last;
  for (uint64_t counter = 2; counter < 100 && last != want; ++counter) {
    last = alice_udp.Ask(server_.udp_port, SignedDatagram(proto::FormatGet("alice", alice_cookie), *alice, counter))
               .value_or("(none)");
    if (last != want) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(last, want) << other.process->Log();
}

// A datagram one backend accepted is a replay on every other backend sharing the store
// too, even one that had the session cached before: bob's ONLINE, recorded and sent again
// to the second server after his OFFLINE, must not bring him back online.
//
// The second server's own replay window never saw the original, so the engines check: a
// proven SET is applied only if its counter is above what its session already stored.
TEST_F(AuthTest, ADatagramOneBackendAcceptedIsAReplayOnAnother) {
  auto alice = LogIn("alice", kGood);
  auto bob = LogIn("bob", kGood);
  ASSERT_TRUE(alice && bob);
  ASSERT_EQ(Request(Proven(proto::Verb::kAdd, "alice", "bob", *alice, 1)), "200 OK");
  ServerHandle other = StartAnother("other.log", {"--password-cost", "minimum"});
  ASSERT_GT(other.udp_port, 0);

  UdpClient bob_udp, alice_udp;
  std::string bob_cookie = CookieFor(bob_udp, *bob, "bob");
  ASSERT_EQ(bob_cookie.size(), proto::kCookieChars);
  // The other server learns bob's session (a proven GET of his own empty list).
  EXPECT_EQ(bob_udp.Ask(other.udp_port, SignedDatagram(proto::FormatGet("bob", bob_cookie), *bob, 2)).value_or("(none)"),
            "");
  std::string online = SignedDatagram(proto::FormatSet("bob", true, 7000, bob_cookie), *bob, 3);
  std::string alice_cookie = CookieFor(alice_udp, *alice, "alice");
  uint64_t alice_counter = 2;
  auto alice_sees = [&](const std::string& want) {
    std::string last;
    for (int i = 0; i < 50 && last != want; ++i) {
      last = alice_udp.Ask(server_.udp_port, SignedDatagram(proto::FormatGet("alice", alice_cookie), *alice, alice_counter++))
                 .value_or("(none)");
      if (last != want) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return last;
  };
  bob_udp.Send(server_.udp_port, online);
  ASSERT_EQ(alice_sees("bob 100 ONLINE 127.0.0.1 7000\n"), "bob 100 ONLINE 127.0.0.1 7000\n");
  bob_udp.Send(server_.udp_port, SignedDatagram(proto::FormatSet("bob", false, 0, bob_cookie), *bob, 4));
  ASSERT_EQ(alice_sees("bob 101 OFFLINE unknown 0\n"), "bob 101 OFFLINE unknown 0\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past the write-behind of the counters

  bob_udp.Send(other.udp_port, online);  // the recorded ONLINE, from bob's (forged) address
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(alice_sees("bob 101 OFFLINE unknown 0\n"), "bob 101 OFFLINE unknown 0\n") << other.process->Log();
}

}  // namespace
}  // namespace im::test
