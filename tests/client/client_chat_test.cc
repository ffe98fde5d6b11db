// Encrypted chat as an attacker on loopback sees it: real im-clients against a real
// im-server, a relay that records every byte between them, hostile peers that do the
// handshake by hand (with the project's own crypto, so only the keys they hold differ),
// and a client that took over a buddy's address without her key.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "auth/chat_crypto.h"
#include "auth/keys.h"
#include "proto/chat.h"
#include "proto/line.h"
#include "tests/client/client_proc.h"
#include "tests/client/fakes.h"
#include "tests/support/net.h"
#include "tests/support/process.h"

namespace im::test {
namespace {

using auth::ChatHandshake;
using auth::ChatIdentity;
using auth::ChatStream;
using auth::DecodeBase64Url;
using auth::EncodeBase64Url;
using namespace std::chrono_literals;

bool WriteAll(int fd, std::string_view bytes) {
  return write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
}

// One side of the encrypted handshake, done by hand over a blocking socket.
class HandPeer {
 public:
  explicit HandPeer(ChatIdentity id) : id_(std::move(id)) {}
  const ChatIdentity& id() const { return id_; }

  // Caller: the HELLO, then the callee's OK (checked against `pinned`), then READY.
  std::string Hello(std::string_view me) {
    hs_ = std::make_unique<ChatHandshake>(id_, true);
    return proto::FormatSecureHello(me, EncodeBase64Url(hs_->ephemeral_public()), EncodeBase64Url(id_.public_key()));
  }
  bool TakeOk(std::string_view line, std::string_view pinned_public) {
    proto::ChatLine ok = proto::ParseChatLine(line);
    auto e = DecodeBase64Url(ok.ephemeral), s = DecodeBase64Url(ok.identity), h = DecodeBase64Url(ok.header),
         c = DecodeBase64Url(ok.confirm);
    if (ok.kind != proto::ChatKind::kOk || !e || !s || !h || !c || *s != pinned_public) return false;
    if (!hs_->Derive(*e, *s)) return false;
    in_ = hs_->StartReceiving(*h);
    return in_ && in_->Open(*c).has_value();
  }
  std::string Ready() {
    std::string header;
    out_.emplace(hs_->StartSending(&header));
    return proto::FormatReady(EncodeBase64Url(header), EncodeBase64Url(out_->Seal("")));
  }

  // Callee: takes a HELLO; answers OK showing `shown_public` (our own key unless we lie).
  bool TakeHello(std::string_view line) {
    proto::ChatLine hello = proto::ParseChatLine(line);
    auto e = DecodeBase64Url(hello.ephemeral), s = DecodeBase64Url(hello.identity);
    if (hello.kind != proto::ChatKind::kHello || !e || !s) return false;
    hs_ = std::make_unique<ChatHandshake>(id_, false);
    return hs_->Derive(*e, *s);
  }
  std::string Ok(std::string_view shown_public = {}) {
    std::string header;
    out_.emplace(hs_->StartSending(&header));
    std::string shown = shown_public.empty() ? std::string(id_.public_key()) : std::string(shown_public);
    return proto::FormatSecureOk(EncodeBase64Url(hs_->ephemeral_public()), EncodeBase64Url(shown),
                                 EncodeBase64Url(header), EncodeBase64Url(out_->Seal("")));
  }

  // An open chat's lines: "E <record>" sealed from a plain chat line, and back.
  std::string Record(std::string_view chat_line) {
    return proto::FormatRecord(EncodeBase64Url(out_->Seal(proto::StripLineEnd(chat_line))));
  }
  std::optional<std::string> Open(std::string_view line) {
    proto::ChatLine record = proto::ParseChatLine(line);
    auto sealed = DecodeBase64Url(record.arg);
    if (record.kind != proto::ChatKind::kRecord || !sealed || !in_) return std::nullopt;
    return in_->Open(*sealed);
  }

 private:
  ChatIdentity id_;
  std::unique_ptr<ChatHandshake> hs_;
  std::optional<ChatStream> in_;
  std::optional<ChatStream> out_;
};

// alice is a real im-client; the presence server is the test's (so it says who holds
// which key) and her peers are the test's hands.
class HandPeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer(dir_.File("im.db"), dir_.File("server.log"));
    ASSERT_GT(server_.tcp_port, 0);
  }
  std::unique_ptr<ClientProc> Alice(bool plain = false) {
    std::vector<std::string> args = {"--server", "127.0.0.1:" + std::to_string(server_.tcp_port),
                                     "--presence", "127.0.0.1:" + std::to_string(presence_.port()),
                                     "--interval", "0.1", "--timeout", "1", "--user", "alice"};
    if (plain) args.push_back("--plain-chat");
    auto alice = std::make_unique<ClientProc>(args, dir_.File("alice" + std::to_string(count_++) + ".log"));
    auto port = alice->process().WaitForLog("chats come in on port ([0-9]+)", 3000);
    EXPECT_TRUE(port.has_value()) << alice->process().Log();
    chat_port_ = port ? std::stoi(*port) : 0;
    EXPECT_TRUE(presence_.Receive().has_value());
    return alice;
  }
  // What alice's next GET reply says about bob.
  void BobIsAt(int port, const ChatIdentity& key) {
    presence_.Reply("bob 100 ONLINE 127.0.0.1 " + std::to_string(port) + " k=" + key.fingerprint() + "\n");
  }

  TempDir dir_;
  ServerHandle server_;
  FakePresence presence_;
  int chat_port_ = 0;
  int count_ = 0;
};

TEST_F(HandPeerTest, ACallerHoldingThePublishedKeyChatsAndEveryLineIsSealed) {
  auto alice = Alice();
  HandPeer bob(ChatIdentity::Generate());
  BobIsAt(5555, bob.id());
  ASSERT_TRUE(alice->Saw("bob is now ONLINE"));
  int fd = ConnectTcp(chat_port_);
  ASSERT_TRUE(WriteAll(fd, bob.Hello("bob")));
  auto ok = ReadLine(fd, 2000);
  ASSERT_TRUE(ok.has_value());
  // alice's OK proves her key: we pin the one her HELLO reply shows (a real bob pins the
  // fingerprint from his GET; HandPeerTest's alice publishes to the fake server).
  proto::ChatLine parsed = proto::ParseChatLine(*ok);
  ASSERT_TRUE(parsed.encrypted()) << *ok;
  ASSERT_TRUE(bob.TakeOk(*ok, *DecodeBase64Url(parsed.identity)));
  EXPECT_FALSE(alice->Saw("wants to chat", 200)) << "the chat opened before bob proved his key";
  ASSERT_TRUE(WriteAll(fd, bob.Ready()));
  EXPECT_TRUE(alice->Saw("bob wants to chat: type to reply, q to end (end-to-end encrypted)"));
  ASSERT_TRUE(WriteAll(fd, bob.Record("MSG the eagle flies")));
  EXPECT_TRUE(alice->Saw("bob: the eagle flies"));
  // A plain line inside an encrypted chat is not bob's: not shown.
  ASSERT_TRUE(WriteAll(fd, "MSG injected in clear\n"));
  alice->Line("at midnight");
  auto reply = ReadLine(fd, 2000);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->find("midnight"), std::string::npos) << *reply;
  EXPECT_EQ(bob.Open(*reply), "MSG at midnight");
  EXPECT_EQ(alice->process().CountLog("injected"), 0);

  // One flipped bit in a record ends the chat: nothing after it is believed.
  std::string tampered = bob.Record("MSG pay mallory");
  tampered[5] = tampered[5] == 'A' ? 'B' : 'A';
  ASSERT_TRUE(WriteAll(fd, tampered));
  EXPECT_TRUE(alice->Saw("chat ended: a message claiming to be from bob failed authentication"));
  EXPECT_EQ(alice->process().CountLog("pay mallory"), 0);
  std::string rest;
  EXPECT_TRUE(ReadUntilClosed(fd, &rest, 2000));
  close(fd);
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
}

TEST_F(HandPeerTest, ACallerWithAnotherKeyOrInPlainTextIsRefusedFromBobsOwnAddress) {
  auto alice = Alice(/*plain=*/true);  // even where plain chats are allowed
  HandPeer bob(ChatIdentity::Generate());
  HandPeer mallory(ChatIdentity::Generate());
  BobIsAt(5555, bob.id());
  ASSERT_TRUE(alice->Saw("bob is now ONLINE"));

  int fd = ConnectTcp(chat_port_);
  ASSERT_TRUE(WriteAll(fd, mallory.Hello("bob")));
  EXPECT_EQ(ReadLine(fd, 2000), "BUSY");
  close(fd);
  EXPECT_TRUE(alice->Saw("refused a chat from 127.0.0.1 claiming to be bob (not bob's chat key)"));

  // A plain HELLO for a buddy who publishes a key is a downgrade.
  std::this_thread::sleep_for(1100ms);  // past the notice limit
  fd = ConnectTcp(chat_port_);
  ASSERT_TRUE(WriteAll(fd, "HELLO bob\nMSG hi\n"));
  EXPECT_EQ(ReadLine(fd, 2000), "BUSY");
  close(fd);
  EXPECT_TRUE(alice->process().WaitForLog("not bob's chat key\\)[\\s\\S]*claiming to be bob \\(not bob's chat key\\)", 2000))
      << alice->process().Log();
  EXPECT_FALSE(alice->Saw("wants to chat", 100));
  EXPECT_EQ(alice->process().CountLog("bob: hi"), 0);
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
}

TEST_F(HandPeerTest, ACalleeShowingBobsPublicKeyWithoutItsSecretIsCutOff) {
  auto alice = Alice();
  HandPeer bob(ChatIdentity::Generate());
  HandPeer mallory(ChatIdentity::Generate());
  for (bool lie_about_key : {true, false}) {
    SCOPED_TRACE(lie_about_key ? "mallory shows bob's public key" : "mallory shows her own key");
    int port = 0;
    int listener = BoundSocket(SOCK_STREAM, &port);  // "bob's address", answered by mallory
    BobIsAt(port, bob.id());
    ASSERT_TRUE(alice->Saw("bob is now ONLINE at 127.0.0.1:" + std::to_string(port)));
    alice->Line("chat bob");
    ASSERT_TRUE(Readable(listener, 3000));
    int fd = accept(listener, nullptr, nullptr);
    auto hello = ReadLine(fd, 2000);
    ASSERT_TRUE(hello.has_value());
    EXPECT_EQ(hello->rfind("HELLO alice e=", 0), 0u) << *hello;
    ASSERT_TRUE(mallory.TakeHello(*hello));
    ASSERT_TRUE(WriteAll(fd, lie_about_key ? mallory.Ok(bob.id().public_key()) : mallory.Ok()));
    EXPECT_TRUE(alice->Saw("chat with bob refused: the peer could not prove it holds bob's chat key"))
        << alice->process().Log();
    std::string rest;
    EXPECT_TRUE(ReadUntilClosed(fd, &rest, 2000));
    EXPECT_EQ(rest.find("READY"), std::string::npos) << "alice went on with the handshake";
    close(fd);
    close(listener);
    alice->Line("list");  // the menu is back
    EXPECT_TRUE(alice->Saw("Buddies:"));
  }
  EXPECT_EQ(alice->process().CountLog("Chatting with bob"), 0);
  alice->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
}

// Real clients, a real server: what crosses the wire, and what an address is worth
// without the key.
class RealChatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer(dir_.File("im.db"), dir_.File("server.log"),
                          {"--presence-ttl", "30", "--password-cost", "minimum"});
    ASSERT_GT(server_.tcp_port, 0);
  }
  std::unique_ptr<ClientProc> Client(const std::string& user, const std::vector<std::string>& extra = {},
                                     const std::vector<std::string>& env = {}) {
    std::vector<std::string> args = {"--server", "127.0.0.1:" + std::to_string(server_.tcp_port),
                                     "--presence", "127.0.0.1:" + std::to_string(server_.udp_port),
                                     "--interval", "0.1", "--timeout", "2", "--user", user};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ClientProc>(args, dir_.File(user + std::to_string(count_++) + ".log"), false, env);
  }
  int OneShot(const std::vector<std::string>& cmd, const std::string& password) {
    std::vector<std::string> argv = {BinaryPath("IM_CLIENT"), "--server", "127.0.0.1:" + std::to_string(server_.tcp_port),
                                     "--timeout", "5"};
    argv.insert(argv.end(), cmd.begin(), cmd.end());
    auto p = Process::Start(argv, dir_.File("oneshot" + std::to_string(count_++) + ".log"), {"IM_PASSWORD=" + password});
    int rc = p->Wait(10000);
    EXPECT_EQ(rc, 0) << p->Log();
    return rc;
  }
  static int ChatPort(ClientProc& c) {
    auto port = c.process().WaitForLog("chats come in on port ([0-9]+)", 3000);
    EXPECT_TRUE(port.has_value()) << c.process().Log();
    return port ? std::stoi(*port) : 0;
  }
  static std::string Fingerprint(ClientProc& c) {
    auto fp = c.process().WaitForLog("Your chat key fingerprint: ([A-Za-z0-9_-]+)", 3000);
    EXPECT_TRUE(fp.has_value()) << c.process().Log();
    return fp.value_or("");
  }

  TempDir dir_;
  ServerHandle server_;
  int count_ = 0;
};

// Accepts one connection on `listener`, connects it to `to_port` and copies bytes both
// ways until either side closes or the deadline passes; `seen` gets every byte.
void Relay(int listener, int to_port, std::string* seen, std::atomic<bool>* connected) {
  if (!Readable(listener, 5000)) return;
  int a = accept(listener, nullptr, nullptr);
  int b = ConnectTcp(to_port);
  connected->store(a >= 0 && b >= 0);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  char buf[4096];
  while (a >= 0 && b >= 0 && std::chrono::steady_clock::now() < deadline) {
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    if (poll(fds, 2, 100) <= 0) continue;
    bool over = false;
    for (int i = 0; i < 2; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        over = true;
        break;
      }
      seen->append(buf, static_cast<size_t>(n));
      if (!WriteAll(i == 0 ? b : a, std::string_view(buf, static_cast<size_t>(n)))) over = true;
    }
    if (over) break;
  }
  if (a >= 0) close(a);
  if (b >= 0) close(b);
}

TEST_F(RealChatTest, TwoClientsChatEncryptedAndARelayInTheMiddleSeesNoText) {
  for (const char* l : {"REG alice", "REG bob", "ADD alice bob", "ADD bob alice"}) {
    ASSERT_EQ(TcpRequest(server_.tcp_port, l), "200 OK");
  }
  auto bob = Client("bob");
  ChatPort(*bob);
  // alice asks rarely, so the relay's address (below) stays what bob sees for her.
  auto alice = Client("alice", {"--interval", "20"});
  int alice_port = ChatPort(*alice);
  std::string alice_key = Fingerprint(*alice);
  ASSERT_TRUE(alice->Saw("bob is now ONLINE"));
  ASSERT_TRUE(bob->Saw("alice is now ONLINE at 127.0.0.1:" + std::to_string(alice_port)));

  // alice's account has no password, so anyone may say where she is: the relay does,
  // with her real key (it has no other; with its own, bob would refuse it).
  int relay_port = 0;
  int listener = BoundSocket(SOCK_STREAM, &relay_port);
  std::string seen;
  std::atomic<bool> connected{false};
  std::thread relay(Relay, listener, alice_port, &seen, &connected);
  UdpClient forger;
  for (int i = 0; i < 30 && !bob->process().WaitForLog("alice is now ONLINE at 127.0.0.1:" + std::to_string(relay_port), 100);
       ++i) {
    forger.Send(server_.udp_port, "SET alice ONLINE " + std::to_string(relay_port) + " k=" + alice_key);
  }
  ASSERT_TRUE(bob->Saw("alice is now ONLINE at 127.0.0.1:" + std::to_string(relay_port)));

  bob->Line("chat alice");
  EXPECT_TRUE(bob->Saw("Chatting with alice: type to send, q to end (end-to-end encrypted)")) << bob->process().Log();
  EXPECT_TRUE(alice->Saw("bob wants to chat: type to reply, q to end (end-to-end encrypted)"));
  bob->Line("the eagle flies at midnight");
  EXPECT_TRUE(alice->Saw("bob: the eagle flies at midnight"));
  alice->Line("rendezvous confirmed");
  EXPECT_TRUE(bob->Saw("alice: rendezvous confirmed"));
  bob->Line("q");
  EXPECT_TRUE(alice->Saw("bob left the chat"));
  relay.join();
  close(listener);

  EXPECT_TRUE(connected.load());
  EXPECT_NE(seen.find("HELLO bob e="), std::string::npos) << "the chat did not go through the relay";
  for (const char* secret : {"eagle", "midnight", "rendezvous", "confirmed", "MSG", "BYE"}) {
    EXPECT_EQ(seen.find(secret), std::string::npos) << secret << " crossed the wire in clear";
  }
  alice->Line("quit");
  bob->Line("quit");
  EXPECT_EQ(alice->process().Wait(3000), 0);
  EXPECT_EQ(bob->process().Wait(3000), 0);
}

TEST_F(RealChatTest, AClientThatTookOverAlicesAddressCannotAnswerForHer) {
  // Passwords all round: nobody but alice can publish where she is or which key is hers,
  // and protected buddies see each other's addresses only when they prove who they are.
  for (const char* who : {"alice", "bob", "mallory"}) {
    EXPECT_EQ(OneShot({"reg", who}, std::string(who) + "-password"), 0);
  }
  EXPECT_EQ(OneShot({"add", "bob", "alice"}, "bob-password"), 0);
  EXPECT_EQ(OneShot({"add", "bob", "mallory"}, "bob-password"), 0);
  EXPECT_EQ(OneShot({"add", "mallory", "bob"}, "mallory-password"), 0);
  auto alice = Client("alice", {}, {"IM_PASSWORD=alice-password"});
  int alice_port = ChatPort(*alice);
  auto bob = Client("bob", {}, {"IM_PASSWORD=bob-password"});
  ASSERT_TRUE(bob->Saw("alice is now ONLINE at 127.0.0.1:" + std::to_string(alice_port))) << bob->process().Log();

  // alice's client dies without a word; her presence lives on until its TTL. mallory, a
  // real client that is bob's buddy too, listens on the port alice had.
  alice->process().Signal(SIGKILL);
  alice->process().Wait(3000);
  auto mallory = Client("mallory", {"--msg-port", std::to_string(alice_port)}, {"IM_PASSWORD=mallory-password"});
  ASSERT_EQ(ChatPort(*mallory), alice_port);
  ASSERT_TRUE(mallory->Saw("bob is now ONLINE")) << mallory->process().Log();

  bob->Line("chat alice");
  EXPECT_TRUE(bob->Saw("chat with alice refused: the peer could not prove it holds alice's chat key"))
      << bob->process().Log();
  EXPECT_EQ(bob->process().CountLog("Chatting with alice"), 0);
  bob->Line("list");
  EXPECT_TRUE(bob->Saw("Buddies:"));
  EXPECT_EQ(mallory->process().CountLog("wants to chat"), 0) << mallory->process().Log();
  bob->Line("quit");
  mallory->Line("quit");
  EXPECT_EQ(bob->process().Wait(3000), 0);
  EXPECT_EQ(mallory->process().Wait(3000), 0);
}

}  // namespace
}  // namespace im::test
