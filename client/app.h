// The interactive client's orchestration: log-in, then one command at a time from the
// menu, presence notices, and at most one chat, all on one loop. Each piece it drives
// owns one thing: Console (the terminal), Menu (what a typed line means), Presence
// (SET/GET), AccountRequest (one REG/ADD/DEL), ChatListener (incoming calls until they
// say HELLO), PeerConn (the chat); messages.h has the words.
//
// Commands run one at a time: while an account request or a chat call is in flight,
// input waits, so a script's lines act in order. Whenever a command is over, the menu
// prompt is drawn again. Loop thread only; outlives uv_run.
#pragma once

#include <uv.h>

#include <memory>
#include <optional>
#include <string>

#include "client/account_request.h"
#include "client/caller_check.h"
#include "client/chat_listener.h"
#include "client/console.h"
#include "client/menu.h"
#include "client/notice_limiter.h"
#include "client/options.h"
#include "client/peer_conn.h"
#include "client/presence.h"
#include "client/session.h"
#include "net/graceful_stop.h"

namespace im::client {

class App : private Console::Handler,
            private AccountRequest::Owner,
            private Presence::Owner,
            private ChatListener::Owner,
            private PeerConn::Owner,
            private net::GracefulStop::Owner {
 public:
  App(uv_loop_t* loop, const ClientOptions& options);
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  int Start();  // returns a libuv error if stdin cannot be read
  int exit_code() const { return exit_code_; }

 private:
  enum class State {
    kAskUser,     // waiting for a user id to be typed
    kAskPassword, // waiting for the password (not shown) of me_
    kLoggingIn,   // REG in flight
    kMenu,        // ready for a command (menu_ may be waiting for a buddy id)
    kRequesting,  // ADD or DEL in flight
    kCalling,     // chat call in flight
    kAnswering,   // a buddy's call accepted, its encrypted handshake finishing
    kChatting,    // lines typed go to the peer
    kDone,
  };

  // Console::Handler
  void OnLine(std::string line) override;
  void OnEndOfInput() override;
  void OnInterrupt() override;
  // AccountRequest::Owner
  void OnAccountReply(const proto::Request& request, const AccountRequest::Result& result) override;
  // Presence::Owner
  void OnBuddyChanged(const proto::BuddyStatus& buddy) override;
  void OnPresenceUnauthorized() override;
  // ChatListener::Owner
  void OnCaller(PeerConn* conn, const std::string& peer) override;
  // PeerConn::Owner, for the one chat
  void OnPeerAccepted(PeerConn* conn) override;
  void OnPeerMessage(PeerConn* conn, const std::string& text) override;
  void OnPeerGone(PeerConn* conn, PeerConn::End end, int status) override;

  // net::GracefulStop::Owner: SIGINT/SIGTERM leave as `quit` does (BYE, OFFLINE, exit 0);
  // nothing is left to drain once Quit has run.
  void OnStopRequested(int) override { Quit(0); }
  bool Drained() override { return true; }
  void OnStopNow() override { Quit(0); }

  void Login(const std::string& user);
  void AskPassword();
  void SendLogin(std::string password);
  void LoginFailed(const std::string& words, bool ask_password_again);
  void OnLoginReply(const AccountRequest::Result& result);
  bool StartSession();
  void Run(const MenuInput& input);
  void Account(proto::Verb verb, const std::string& buddy);
  void ListBuddies();
  void Call(const std::string& buddy);
  void ChatLine(const std::string& line);
  void EndChat(const std::string& reason);
  void ShowMenu();
  void Prompt();
  void Ready();  // a command is over: back at the menu, prompt drawn, input flowing
  void Quit(int exit_code);

  uv_loop_t* loop_;
  ClientOptions options_;
  Console console_;
  Menu menu_;
  auth::ChatIdentity identity_;  // this run's chat key pair; its fingerprint goes with our presence
  ChatListener chats_;
  std::unique_ptr<Presence> presence_;  // from log-in on
  net::GracefulStop stop_;
  State state_ = State::kAskUser;
  std::string me_;
  std::optional<std::string> given_password_;  // IM_PASSWORD or --password-file, read at start
  bool sent_password_ = false;                 // the REG in flight carries one
  std::optional<Session> session_;             // after a log-in with a password
  AccountRequest* request_ = nullptr;  // the REG/ADD/DEL in flight
  PeerConn* chat_ = nullptr;           // the one chat, calling or open
  NoticeLimiter refused_{1000, 64};    // notices of refused callers, per caller address
  int exit_code_ = 0;
};

}  // namespace im::client
