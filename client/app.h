// The interactive client: log-in, the menu and word commands, presence notices and one
// chat at a time, all on one loop (the project description's five threads become: stdin,
// a presence timer, the UDP socket, the chat listener and at most one chat connection).
//
// Commands run one at a time: while an account request or a chat call is in flight,
// input waits, so a script's lines act in order. Loop thread only; outlives uv_run.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "client/account_request.h"
#include "client/console.h"
#include "client/options.h"
#include "client/peer_conn.h"
#include "client/presence.h"

namespace im::client {

class App : private Console::Handler,
            private AccountRequest::Owner,
            private Presence::Owner,
            private PeerConn::Owner {
 public:
  App(uv_loop_t* loop, const ClientOptions& options);
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  int Start();  // returns a libuv error if stdin cannot be read
  int exit_code() const { return exit_code_; }

 private:
  enum class State {
    kAskUser,    // waiting for a user id to be typed
    kLoggingIn,  // REG in flight
    kMenu,       // ready for a command
    kAskBuddy,   // numbered menu item chosen, waiting for the buddy id
    kCalling,    // chat call in flight
    kChatting,   // lines typed go to the peer
    kDone,
  };

  // Console::Handler
  void OnLine(std::string line) override;
  void OnEndOfInput() override;
  void OnInterrupt() override;
  // AccountRequest::Owner
  void OnAccountReply(const AccountRequest::Result& result) override;
  // Presence::Owner
  void OnBuddyChanged(const proto::BuddyStatus& buddy) override;
  // PeerConn::Owner
  void OnPeerHello(PeerConn* conn, const std::string& peer) override;
  void OnPeerAccepted(PeerConn* conn) override;
  void OnPeerMessage(PeerConn* conn, const std::string& text) override;
  void OnPeerGone(PeerConn* conn, const std::string& reason) override;

  static void OnIncoming(uv_stream_t* listener, int status) noexcept;
  static void OnSignal(uv_signal_t* signal, int signum) noexcept;

  void Login(const std::string& user);
  bool StartSession();
  void Command(const std::string& line);
  void Account(char verb, const std::string& buddy);
  void ListBuddies();
  void Chat(const std::string& buddy);
  void EndChat(const std::string& reason);
  void ShowMenu();
  void Prompt();
  void Quit(int exit_code);

  uv_loop_t* loop_;
  ClientOptions options_;
  Console console_;
  std::unique_ptr<Presence> presence_;
  uv_tcp_t listener_;           // incoming chats on the message port
  uv_signal_t sigint_, sigterm_;
  State state_ = State::kAskUser;
  std::string me_;
  uint16_t msg_port_ = 0;
  char pending_verb_ = 0;       // 'a'/'d'/'c' chosen from the numbered menu
  std::string pending_buddy_;   // the buddy of the account request in flight
  AccountRequest* request_ = nullptr;
  PeerConn* chat_ = nullptr;    // the one chat, calling or open
  std::vector<PeerConn*> answering_;  // callers that have not said HELLO yet
  int exit_code_ = 0;
};

}  // namespace im::client
