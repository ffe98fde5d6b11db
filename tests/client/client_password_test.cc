// im-client with a password: how it is given (asked without echo, IM_PASSWORD,
// --password-file; never the command line), what the client keeps (the grant, never
// shown) and the proofs it puts on ADD/DEL and on presence datagrams, with the COOKIE
// round trip. Fake servers check each proof as the real one does (proto + auth).
#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "auth/keys.h"
#include "proto/presence.h"
#include "proto/request.h"
#include "tests/client/client_proc.h"
#include "tests/client/fakes.h"
#include "tests/support/process.h"

namespace im::test {
namespace {

using namespace std::chrono_literals;

int64_t NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

class ClientPasswordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(auth::Init());
    key_ = auth::RandomBytes(32);
    session_ = auth::EncodeBase64Url(auth::RandomBytes(16));
  }
  // "<session> <key> <expires> <now>", the server's clock 5 s ahead of ours.
  std::string Grant() const {
    return session_ + " " + auth::EncodeBase64Url(key_) + " " + std::to_string(NowMs() + 3'600'000) + " " +
           std::to_string(NowMs() + kServerAheadMs);
  }
  std::vector<std::string> Args(const std::string& interval = "5") {
    return {"--server", "127.0.0.1:" + std::to_string(accounts_.port()), "--presence",
            "127.0.0.1:" + std::to_string(presence_.port()), "--interval", interval, "--timeout", "2"};
  }
  std::unique_ptr<ClientProc> Client(std::vector<std::string> extra, bool pty = false,
                                     const std::vector<std::string>& env = {}) {
    auto args = Args();
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ClientProc>(args, dir_.File("client" + std::to_string(count_++) + ".log"), pty, env);
  }
  std::unique_ptr<Process> OneShot(std::vector<std::string> cmd, const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv = {BinaryPath("IM_CLIENT")};
    auto args = Args();
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    return Process::Start(argv, dir_.File("oneshot" + std::to_string(count_++) + ".log"), env);
  }
  // Checks an ADD/DEL line's proof as the server does; returns its counter (0 if bad).
  uint64_t ProvenRequest(const std::optional<std::string>& line) {
    if (!line) return 0;
    auto parsed = proto::ParseRequest(*line);
    if (!std::holds_alternative<proto::Request>(parsed)) return 0;
    const auto& request = std::get<proto::Request>(parsed);
    EXPECT_EQ(request.proof.session, session_);
    EXPECT_NEAR(static_cast<double>(request.proof.time_ms), static_cast<double>(NowMs() + kServerAheadMs), 1000);
    return auth::VerifyMac(key_, proto::SignedText(request), request.proof.mac) ? request.proof.counter : 0;
  }
  // The same for a datagram; *cookie is what it carried.
  uint64_t ProvenDatagram(const std::optional<std::string>& datagram, std::string* cookie) {
    if (!datagram) return 0;
    auto parsed = proto::ParseDatagram(*datagram);
    const proto::DatagramCredentials* creds = nullptr;
    if (auto* set = std::get_if<proto::SetPresence>(&parsed)) creds = &set->credentials;
    if (auto* get = std::get_if<proto::GetBuddies>(&parsed)) creds = &get->credentials;
    if (creds == nullptr || creds->proof.empty()) return 0;
    *cookie = creds->cookie;
    EXPECT_EQ(creds->proof.session, session_);
    return auth::VerifyMac(key_, creds->signed_text, creds->proof.mac) ? creds->proof.counter : 0;
  }
  void ExpectSecretsNeverShown(const std::string& log) {
    EXPECT_EQ(log.find(auth::EncodeBase64Url(key_)), std::string::npos) << "the session key was shown";
    EXPECT_EQ(log.find(session_), std::string::npos) << "the session id was shown";
  }

  static constexpr int64_t kServerAheadMs = 5000;
  TempDir dir_;
  FakeAccounts accounts_;
  FakePresence presence_;
  std::string key_, session_;
  int count_ = 0;
};

TEST_F(ClientPasswordTest, LogsInWithImPasswordAndProvesEveryRequestAndDatagram) {
  auto alice = Client({"--user", "alice"}, false, {"IM_PASSWORD=correct-horse"});
  EXPECT_EQ(accounts_.Next(), "REG alice correct-horse");
  accounts_.Reply("210 LOGGED IN " + Grant());
  EXPECT_TRUE(alice->Saw("Logged in as alice (210 LOGGED IN)"));

  std::string cookie = "unset";
  auto set = presence_.Receive();
  EXPECT_EQ(ProvenDatagram(set, &cookie), 1u) << set.value_or("");
  EXPECT_EQ(cookie, "");
  EXPECT_EQ(ProvenDatagram(presence_.Receive(), &cookie), 2u);
  // The server wants the address proven: both go again at once, with the cookie.
  std::string given = auth::EncodeBase64Url(auth::RandomBytes(16));
  presence_.Reply("COOKIE " + given + "\n");
  auto resent_set = presence_.Receive(1000);
  EXPECT_EQ(ProvenDatagram(resent_set, &cookie), 3u);
  EXPECT_TRUE(resent_set && resent_set->starts_with("SET alice ONLINE ")) << resent_set.value_or("");
  EXPECT_EQ(cookie, given);
  EXPECT_EQ(ProvenDatagram(presence_.Receive(1000), &cookie), 4u);
  EXPECT_EQ(cookie, given);
  // Once per datagram: another COOKIE (a loop, a replayed answer) gets nothing before the next interval.
  presence_.Reply("COOKIE " + given + "\n");
  EXPECT_FALSE(presence_.Receive(700).has_value());

  alice->Line("add bob");
  EXPECT_EQ(ProvenRequest(accounts_.Next()), 1u);
  accounts_.Reply("401 UNAUTHORIZED");
  EXPECT_TRUE(alice->Saw("the server did not accept your proof of identity: log in again (401 UNAUTHORIZED)"));
  alice->Line("del bob");
  EXPECT_EQ(ProvenRequest(accounts_.Next()), 2u);  // growing, never reused
  accounts_.Reply("201 NOT A BUDDY");
  EXPECT_TRUE(alice->Saw("bob is not your buddy (201 NOT A BUDDY)"));

  presence_.Reply("401 UNAUTHORIZED\n");
  EXPECT_TRUE(alice->Saw("the presence server refused our proof of identity (401 UNAUTHORIZED)"));
  alice->Line("quit");
  auto offline = presence_.Receive(1000);
  EXPECT_GT(ProvenDatagram(offline, &cookie), 4u);
  EXPECT_TRUE(offline && offline->starts_with("SET alice OFFLINE 0 c=" + given + " p=")) << offline.value_or("");
  EXPECT_EQ(alice->process().Wait(3000), 0);
  ExpectSecretsNeverShown(alice->process().Log());
  EXPECT_EQ(alice->process().Log().find("correct-horse"), std::string::npos);
}

TEST_F(ClientPasswordTest, AsksWhenTheAccountHasAPasswordAndNeverEchoesIt) {
  auto alice = Client({"--user", "alice"});
  EXPECT_EQ(accounts_.Next(), "REG alice");
  accounts_.Reply("205 PASSWORD REQUIRED");
  EXPECT_TRUE(alice->Saw("alice has a password: log in with it (205 PASSWORD REQUIRED)"));
  alice->Line("s3cret-pass");  // not a terminal: the next line is the password
  EXPECT_EQ(accounts_.Next(), "REG alice s3cret-pass");
  accounts_.Reply("204 WRONG PASSWORD");
  EXPECT_TRUE(alice->Saw("wrong password for alice (204 WRONG PASSWORD)"));
  EXPECT_EQ(alice->process().Wait(3000), 1);  // no second guess from a script
  EXPECT_EQ(alice->process().Log().find("s3cret"), std::string::npos) << alice->process().Log();
}

TEST_F(ClientPasswordTest, RepliesToALogInAreShownInWords) {
  const std::pair<const char*, const char*> cases[] = {
      {"206 ACCOUNT HAS NO PASSWORD", "alice has no password: log in without one (206 ACCOUNT HAS NO PASSWORD)"},
      {"207 BAD PASSWORD", "a password is 8 to 128 bytes without spaces or control characters (207 BAD PASSWORD)"},
      {"429 TRY LATER", "too many attempts or the server is busy: try again in a moment (429 TRY LATER)"},
  };
  for (auto [reply, words] : cases) {
    auto alice = Client({"--user", "alice", "--ask-password"});
    alice->Line("s3cret-pass");
    EXPECT_EQ(accounts_.Next(), "REG alice s3cret-pass");
    accounts_.Reply(reply);
    EXPECT_TRUE(alice->Saw(words)) << alice->process().Log();
    EXPECT_EQ(alice->process().Wait(3000), 1);
  }
}

TEST_F(ClientPasswordTest, OnATerminalThePasswordIsAskedWithoutEchoAndAskedAgainWhenWrong) {
  auto alice = Client({"--user", "alice", "--ask-password"}, /*pty=*/true);
  ASSERT_TRUE(alice->ShowsPrompt("Password for alice (not shown): "));
  alice->Type("wrong-pass\r");
  EXPECT_EQ(accounts_.Next(), "REG alice wrong-pass");
  accounts_.Reply("204 WRONG PASSWORD");
  EXPECT_TRUE(alice->Saw("wrong password for alice"));
  EXPECT_TRUE(alice->ShowsPrompt("Password for alice (not shown): "));
  alice->Type("right-pass");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(alice->ScreenLine(), "Password for alice (not shown): ");  // nothing typed is drawn
  alice->Type("\r");
  EXPECT_EQ(accounts_.Next(), "REG alice right-pass");
  accounts_.Reply("200 OK " + Grant());
  EXPECT_TRUE(alice->Saw("Registered as alice with a password (200 OK)"));
  EXPECT_TRUE(alice->ShowsPrompt("alice> "));
  alice->Type("\x03");
  EXPECT_EQ(alice->process().Wait(3000), 0);
  std::string log = alice->process().Log();
  EXPECT_EQ(log.find("wrong-pass"), std::string::npos);
  EXPECT_EQ(log.find("right-pass"), std::string::npos);
  ExpectSecretsNeverShown(log);
}

TEST_F(ClientPasswordTest, OneShotsTakeThePasswordFromTheEnvironmentOrAFileAndLogInFirst) {
  {
    auto add = OneShot({"add", "alice", "bob"}, {"IM_PASSWORD=correct-horse"});
    EXPECT_EQ(accounts_.Next(), "REG alice correct-horse");
    accounts_.Reply("210 LOGGED IN " + Grant());
    EXPECT_EQ(ProvenRequest(accounts_.Next()), 1u);
    accounts_.Reply("200 OK");
    EXPECT_EQ(add->Wait(3000), 0);
    EXPECT_EQ(add->Log(), "200 OK\n");
  }
  std::string file = dir_.File("password");
  std::ofstream(file) << "from-a-file\n";
  {
    auto reg = OneShot({"--password-file", file, "reg", "alice"});
    EXPECT_EQ(accounts_.Next(), "REG alice from-a-file");
    accounts_.Reply("200 OK " + Grant());
    EXPECT_EQ(reg->Wait(3000), 0);
    EXPECT_EQ(reg->Log(), "200 OK\n");  // the grant is not printed
  }
  {
    auto del = OneShot({"--password-file", file, "del", "alice", "bob"});
    EXPECT_EQ(accounts_.Next(), "REG alice from-a-file");
    accounts_.Reply("204 WRONG PASSWORD");
    EXPECT_EQ(del->Wait(3000), 1);
    EXPECT_EQ(del->Log(), "204 WRONG PASSWORD\n");  // and no DEL was sent
    EXPECT_FALSE(accounts_.Next(300).has_value());
  }
  auto missing = OneShot({"--password-file", dir_.File("nope"), "reg", "alice"});
  EXPECT_EQ(missing->Wait(3000), 2);
  EXPECT_NE(missing->Log().find("cannot read --password-file"), std::string::npos) << missing->Log();
}

}  // namespace
}  // namespace im::test
