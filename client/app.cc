#include "client/app.h"

#include <csignal>

#include "proto/chat.h"
#include "proto/line.h"
#include "proto/request.h"
#include "proto/text.h"
#include "proto/userid.h"

namespace im::client {
namespace {

template <typename T>
uv_handle_t* AsHandle(T* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

std::string Lower(std::string_view word) {
  std::string out(word);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return out;
}

// The server's reply in words, for the account command that asked.
std::string InWords(char verb, const std::string& buddy, const std::string& reply) {
  auto status = proto::ParseReplyLine(reply);
  int code = status ? status->code : 0;
  std::string tail = " (" + reply + ")";
  if (code == 400) return "the server rejected the request" + tail;
  if (code == 500) return "server error, nothing changed: try again" + tail;
  if (code == 503) return "no server is available right now: try again" + tail;
  if (verb == 'a') {
    if (code == 200) return buddy + " added" + tail;
    if (code == 201) return buddy + " is already your buddy" + tail;
    if (code == 202) return buddy + " is not registered" + tail;
    if (code == 203) return "your buddy list is full" + tail;
  } else {
    if (code == 200) return buddy + " deleted" + tail;
    if (code == 201) return buddy + " is not your buddy" + tail;
    if (code == 202) return buddy + " or your account is not registered" + tail;  // either id unknown
  }
  return "the server said: " + reply;
}

}  // namespace

App::App(uv_loop_t* loop, const ClientOptions& options)
    : loop_(loop), options_(options), console_(loop, *this) {
  uv_tcp_init(loop_, &listener_);
  listener_.data = this;
  uv_signal_init(loop_, &sigint_);
  sigint_.data = this;
  uv_signal_init(loop_, &sigterm_);
  sigterm_.data = this;
}

int App::Start() {
  if (int rc = console_.Start(); rc != 0) return rc;
  uv_signal_start(&sigint_, OnSignal, SIGINT);
  uv_signal_start(&sigterm_, OnSignal, SIGTERM);
  if (!options_.user.empty()) {
    Login(options_.user);
  } else {
    console_.Print("Welcome! Log in or register with a user id (1-32 of A-Z a-z 0-9 _ . -).");
    Prompt();
  }
  return 0;
}

void App::Prompt() {
  switch (state_) {
    case State::kAskUser: console_.SetPrompt("User id: "); break;
    case State::kAskBuddy:
      console_.SetPrompt(pending_verb_ == 'a' ? "Buddy to add: " : pending_verb_ == 'd' ? "Buddy to delete: " : "Buddy to chat with: ");
      break;
    case State::kChatting: console_.SetPrompt("[" + (chat_ ? chat_->peer() : std::string()) + "] "); break;
    case State::kMenu: console_.SetPrompt(me_ + "> "); break;
    default: console_.SetPrompt(""); break;
  }
}

void App::ShowMenu() {
  console_.Print("1) add buddy  2) delete buddy  3) list buddies  4) chat  5) help  6) quit");
  console_.Print("   or type: add ID, del ID, list, chat ID, help, quit");
}

void App::Login(const std::string& user) {
  if (!proto::IsValidUserId(user)) {
    console_.Print("\"" + proto::Printable(user) + "\" is not a valid user id: 1-32 of A-Z a-z 0-9 _ . -");
    if (!console_.interactive()) return Quit(2);
    state_ = State::kAskUser;
    return Prompt();
  }
  me_ = user;
  state_ = State::kLoggingIn;
  Prompt();
  console_.Pause();
  request_ = AccountRequest::Start(loop_, reinterpret_cast<sockaddr*>(&options_.server_addr), options_.server,
                                   "REG " + user + "\n", *this, options_.timeout_ms);
}

bool App::StartSession() {
  sockaddr_storage any{};
  uv_ip4_addr("0.0.0.0", options_.msg_port, reinterpret_cast<sockaddr_in*>(&any));
  int rc = uv_tcp_bind(&listener_, reinterpret_cast<sockaddr*>(&any), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 16, OnIncoming);
  if (rc != 0) {
    console_.Print("cannot listen for chats on port " + std::to_string(options_.msg_port) + ": " + uv_strerror(rc));
    return false;
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
  msg_port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  presence_ = std::make_unique<Presence>(loop_, static_cast<Presence::Owner&>(*this), reinterpret_cast<sockaddr*>(&options_.presence_addr), me_,
                                         options_.interval_ms);
  if (int prc = presence_->Start(msg_port_); prc != 0) {
    console_.Print(std::string("cannot start presence: ") + uv_strerror(prc));
    return false;
  }
  console_.Print("You are ONLINE; chats come in on port " + std::to_string(msg_port_) + ".");
  state_ = State::kMenu;
  ShowMenu();
  Prompt();
  return true;
}

void App::OnLine(std::string line) {
  std::string_view text = line;
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  switch (state_) {
    case State::kAskUser:
      if (!text.empty()) Login(std::string(text));
      return;
    case State::kMenu:
      if (!text.empty()) Command(std::string(text));
      return;
    case State::kAskBuddy: {
      // The question is answered: the menu prompt comes back whatever the command does.
      state_ = State::kMenu;
      Prompt();
      char verb = pending_verb_;
      pending_verb_ = 0;
      if (text.empty()) return console_.Print("cancelled");
      if (verb == 'c') return Chat(std::string(text));
      return Account(verb, std::string(text));
    }
    case State::kChatting:
      if (text == "q") {
        std::string peer = chat_ ? chat_->peer() : "";
        if (chat_ != nullptr) chat_->Leave();
        chat_ = nullptr;
        console_.Print("chat with " + peer + " ended");
        state_ = State::kMenu;
        return Prompt();
      }
      if (!line.empty() && chat_ != nullptr) chat_->SendMessage(line);
      return;
    default:
      return;  // input waits while a request is in flight (the console is paused)
  }
}

void App::Command(const std::string& line) {
  auto words = proto::SplitWords(line);
  std::string cmd = Lower(words[0]);
  std::string arg = words.size() > 1 ? std::string(words[1]) : "";
  char verb = 0;
  if (cmd == "1" || cmd == "add") verb = 'a';
  else if (cmd == "2" || cmd == "del" || cmd == "delete") verb = 'd';
  else if (cmd == "4" || cmd == "chat") verb = 'c';
  if (verb != 0) {
    if (arg.empty()) {
      pending_verb_ = verb;
      state_ = State::kAskBuddy;
      return Prompt();
    }
    if (verb == 'c') return Chat(arg);
    return Account(verb, arg);
  }
  if (cmd == "3" || cmd == "list") return ListBuddies();
  if (cmd == "5" || cmd == "help" || cmd == "menu" || cmd == "?") return ShowMenu();
  if (cmd == "6" || cmd == "quit" || cmd == "exit") return Quit(0);
  console_.Print("unknown command: " + proto::Printable(cmd) + " (type help)");
}

void App::Account(char verb, const std::string& buddy) {
  if (!proto::IsValidUserId(buddy)) {
    return console_.Print("\"" + proto::Printable(buddy) + "\" is not a valid user id");
  }
  if (verb == 'a' && buddy == me_) return console_.Print("you cannot add yourself");
  pending_verb_ = verb;
  pending_buddy_ = buddy;
  console_.Pause();
  std::string line = std::string(verb == 'a' ? "ADD " : "DEL ") + me_ + " " + buddy + "\n";
  request_ = AccountRequest::Start(loop_, reinterpret_cast<sockaddr*>(&options_.server_addr), options_.server, line,
                                   *this, options_.timeout_ms);
}

void App::OnAccountReply(const AccountRequest::Result& result) {
  request_ = nullptr;
  if (state_ == State::kLoggingIn) {
    auto status = result.ok ? proto::ParseReplyLine(result.reply) : std::nullopt;
    int code = status ? status->code : 0;
    if (code == 200 || code == 201) {
      console_.Print(code == 200 ? "Registered as " + me_ + " (" + result.reply + ")"
                                 : "Welcome back, " + me_ + " (" + result.reply + ")");
      if (!StartSession()) return Quit(1);
    } else {
      console_.Print(result.ok ? "cannot log in as " + me_ + ": " + result.reply : result.error);
      me_.clear();
      if (!console_.interactive()) return Quit(1);
      state_ = State::kAskUser;
      Prompt();
    }
    console_.Resume();
    return;
  }
  if (state_ == State::kDone) return;
  char verb = pending_verb_;
  pending_verb_ = 0;
  if (!result.ok) {
    console_.Print(result.error + " (presence keeps trying)");
  } else {
    console_.Print(InWords(verb, pending_buddy_, result.reply));
    if (presence_ && result.reply.rfind("200", 0) == 0) {
      if (verb == 'd') presence_->Forget(pending_buddy_);
      presence_->AskNow();
    }
  }
  console_.Resume();
}

void App::ListBuddies() {
  if (!presence_ || !presence_->have_list()) return console_.Print("no buddy list yet (waiting for the presence server)");
  const auto& buddies = presence_->buddies();
  if (buddies.empty()) return console_.Print("no buddies yet (add one with: add ID)");
  console_.Print("Buddies:");
  for (const auto& b : buddies) {
    std::string row = "  " + b.id + std::string(b.id.size() < 12 ? 12 - b.id.size() : 1, ' ');
    row += b.online ? "ONLINE   " + b.ip + ":" + std::to_string(b.msg_port) : "OFFLINE";
    console_.Print(row);
  }
}

void App::OnBuddyChanged(const proto::BuddyStatus& buddy) {
  console_.Print(buddy.online ? buddy.id + " is now ONLINE at " + buddy.ip + ":" + std::to_string(buddy.msg_port)
                              : buddy.id + " is now OFFLINE");
}

void App::Chat(const std::string& buddy) {
  if (chat_ != nullptr) return console_.Print("you are already in a chat");
  const proto::BuddyStatus* b = presence_ ? presence_->Find(buddy) : nullptr;
  if (b == nullptr) return console_.Print(proto::Printable(buddy) + " is not your buddy (add them first)");
  if (!b->online) return console_.Print(buddy + " is OFFLINE: cannot chat");
  sockaddr_storage addr{};
  if (!ParseAddress(b->ip + ":" + std::to_string(b->msg_port), &addr) &&
      !ParseAddress("[" + b->ip + "]:" + std::to_string(b->msg_port), &addr)) {
    return console_.Print("cannot chat: bad address for " + buddy);
  }
  console_.Print("Calling " + buddy + " at " + b->ip + ":" + std::to_string(b->msg_port) + "...");
  state_ = State::kCalling;
  Prompt();
  console_.Pause();
  chat_ = PeerConn::Call(loop_, *this, reinterpret_cast<sockaddr*>(&addr), me_, buddy, options_.timeout_ms);
}

void App::OnPeerAccepted(PeerConn* conn) {
  if (conn != chat_) return;
  state_ = State::kChatting;
  console_.Print("Chatting with " + conn->peer() + ": type to send, q to end");
  Prompt();
  console_.Resume();
}

void App::OnIncoming(uv_stream_t* listener, int status) noexcept {
  auto* self = static_cast<App*>(listener->data);
  if (status < 0 || self->state_ == State::kDone) return;
  // Each unanswered caller is bounded by the handshake timeout; a handful is plenty.
  if (self->answering_.size() >= 16) {
    uv_tcp_t* drop = new uv_tcp_t;
    uv_tcp_init(self->loop_, drop);
    uv_accept(listener, reinterpret_cast<uv_stream_t*>(drop));
    uv_close(AsHandle(drop), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    return;
  }
  if (PeerConn* conn = PeerConn::Answer(self->loop_, *self, listener, self->options_.timeout_ms)) {
    self->answering_.push_back(conn);
  }
}

void App::OnPeerHello(PeerConn* conn, const std::string& peer) {
  std::erase(answering_, conn);
  bool free = chat_ == nullptr && (state_ == State::kMenu || state_ == State::kAskBuddy) && request_ == nullptr;
  if (!free) {
    conn->Refuse();
    console_.Print(peer + " tried to chat with you (you are busy)");
    return;
  }
  pending_verb_ = 0;
  chat_ = conn;
  conn->Accept();
  state_ = State::kChatting;
  console_.Print(peer + " wants to chat: type to reply, q to end");
  Prompt();
}

void App::OnPeerMessage(PeerConn* conn, const std::string& text) {
  if (conn == chat_) console_.Print(conn->peer() + ": " + proto::Printable(text));
}

void App::OnPeerGone(PeerConn* conn, const std::string& reason) {
  std::erase(answering_, conn);
  if (conn != chat_) return;  // a caller that never said who it was
  EndChat(reason);
}

void App::EndChat(const std::string& reason) {
  bool was_calling = state_ == State::kCalling;
  chat_ = nullptr;
  if (!reason.empty()) console_.Print(reason);
  if (state_ == State::kDone) return;
  state_ = State::kMenu;
  Prompt();
  if (was_calling) console_.Resume();
}

void App::OnEndOfInput() { Quit(me_.empty() || state_ == State::kLoggingIn ? 1 : 0); }

void App::OnInterrupt() { Quit(0); }

void App::OnSignal(uv_signal_t* signal, int) noexcept { static_cast<App*>(signal->data)->Quit(0); }

// Leaves cleanly: BYE to a chat peer, OFFLINE to the presence server, then every handle
// closes and uv_run returns.
void App::Quit(int exit_code) {
  if (state_ == State::kDone) return;
  state_ = State::kDone;
  exit_code_ = exit_code;
  if (chat_ != nullptr) {
    chat_->Leave();
    chat_ = nullptr;
  }
  for (PeerConn* conn : answering_) conn->Close();
  answering_.clear();
  if (request_ != nullptr) {
    request_->Cancel();
    request_ = nullptr;
  }
  if (presence_) {
    presence_->SendOffline();
    presence_->Close();
  }
  if (!me_.empty() && exit_code == 0) console_.Print("Goodbye, " + me_ + ".");
  uv_close(AsHandle(&listener_), nullptr);
  uv_close(AsHandle(&sigint_), nullptr);
  uv_close(AsHandle(&sigterm_), nullptr);
  console_.Close();
}

}  // namespace im::client
