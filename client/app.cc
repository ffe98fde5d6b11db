#include "client/app.h"


#include "client/messages.h"
#include "client/password.h"
#include "net/address.h"
#include "proto/line.h"
#include "proto/text.h"
#include "proto/userid.h"

namespace im::client {

using proto::Printable;

App::App(uv_loop_t* loop, const ClientOptions& options)
    : loop_(loop),
      options_(options),
      console_(loop, *this),
      identity_(auth::ChatIdentity::Generate()),
      chats_(loop, *this, options.timeout_ms, identity_),
      stop_(loop, *this, /*budget_ms=*/0, /*poll_ms=*/100) {}

int App::Start() {
  if (int rc = console_.Start(); rc != 0) return rc;
  std::string error;
  given_password_ = GivenPassword(options_, &error);
  if (!error.empty()) {
    console_.Print(error);
    return UV_EINVAL;
  }
  stop_.Start();
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
    case State::kAskUser: return console_.SetPrompt("User id: ");
    case State::kAskPassword: return console_.SetPrompt("Password for " + me_ + " (not shown): ");
    case State::kMenu: return console_.SetPrompt(menu_.Prompt(me_));
    case State::kRequesting: return console_.SetPrompt(me_ + "> ");  // input waits meanwhile
    case State::kChatting: return console_.SetPrompt("[" + Printable(chat_ ? chat_->peer() : "") + "] ");
    case State::kLoggingIn:
    case State::kCalling:
    case State::kAnswering:
    case State::kDone: return console_.SetPrompt("");
  }
}

void App::Ready() {
  state_ = State::kMenu;
  Prompt();
  console_.Resume();
}

void App::ShowMenu() {
  for (std::string_view line : kMenuText) console_.Print(line);
}

void App::Login(const std::string& user) {
  if (!proto::IsValidUserId(user)) {
    console_.Print("\"" + Printable(user) + "\" is not a valid user id: 1-32 of A-Z a-z 0-9 _ . -");
    if (!console_.interactive()) return Quit(2);
    state_ = State::kAskUser;
    return Prompt();
  }
  me_ = user;
  if (given_password_) return SendLogin(*given_password_);
  if (options_.ask_password) return AskPassword();
  SendLogin("");
}

// Asks for the password without showing it; on a pipe the next line is it.
void App::AskPassword() {
  state_ = State::kAskPassword;
  console_.ExpectSecret();
  if (!console_.interactive()) console_.Print("Password for " + me_ + ": (read from the next input line)");
  Prompt();
  console_.Resume();
}

void App::SendLogin(std::string password) {
  state_ = State::kLoggingIn;
  Prompt();
  console_.Pause();
  sent_password_ = !password.empty();
  request_ = AccountRequest::Start(loop_, reinterpret_cast<const sockaddr*>(&options_.server_addr), options_.server,
                                   proto::Request{proto::Verb::kReg, me_, "", std::move(password)}, *this,
                                   options_.timeout_ms, &options_.tls);
}

void App::OnLoginReply(const AccountRequest::Result& result) {
  using proto::Reply;
  bool ok = result.reply == Reply::kOk || result.reply == Reply::kAlreadyRegistered || result.reply == Reply::kLoggedIn;
  if (ok && sent_password_ && result.reply != Reply::kAlreadyRegistered) {
    // Only the reply's words are shown: the grant after them holds the session key.
    std::optional<proto::SessionGrant> grant = proto::ParseGrant(result.line);
    if (grant) session_ = Session::FromGrant(*grant, WallClockMs());
    std::string words(proto::StripLineEnd(proto::ReplyLine(*result.reply)));
    if (!session_) return LoginFailed("the server's log-in grant is malformed (" + words + ")", false);
    console_.Print((result.reply == Reply::kOk ? "Registered as " + me_ + " with a password (" : "Logged in as " + me_ + " (") +
                   words + ")");
  } else if (ok) {
    console_.Print((result.reply == Reply::kOk ? "Registered as " : "Welcome back, ") + me_ + " (" +
                   Printable(result.line) + ")");
  } else if (!result.answered) {
    return LoginFailed(result.error, false);
  } else {
    std::string words = LoginFailureWords(me_, result.reply, result.line, sent_password_);
    // The account has a password (205), or it was mistyped (204): ask for it.
    bool ask = (result.reply == Reply::kPasswordRequired && !sent_password_ && !given_password_) ||
               (result.reply == Reply::kWrongPassword && !given_password_ && console_.interactive());
    return LoginFailed(words, ask);
  }
  if (!StartSession()) return Quit(1);
  Ready();
}

void App::LoginFailed(const std::string& words, bool ask_password_again) {
  console_.Print(words);
  if (ask_password_again) return AskPassword();
  me_.clear();
  if (!console_.interactive()) return Quit(1);
  state_ = State::kAskUser;
  Prompt();
  console_.Resume();
}

bool App::StartSession() {
  std::string error;
  if (!chats_.Listen(options_.msg_port, &error)) {
    console_.Print("cannot listen for chats: " + error);
    return false;
  }
  int port = chats_.port();
  presence_ = std::make_unique<Presence>(loop_, static_cast<Presence::Owner&>(*this),
                                         reinterpret_cast<const sockaddr*>(&options_.presence_addr), me_,
                                         options_.interval_ms, identity_.fingerprint(),
                                         session_ ? &*session_ : nullptr);
  if (int rc = presence_->Start(static_cast<uint16_t>(port)); rc != 0) {
    console_.Print(std::string("cannot start presence: ") + uv_strerror(rc));
    return false;
  }
  console_.Print("You are ONLINE; chats come in on port " + std::to_string(port) + ".");
  // Buddies who want more than the server's word can compare it out of band.
  console_.Print("Your chat key fingerprint: " + identity_.fingerprint() + " (new at every start)");
  ShowMenu();
  return true;
}

void App::OnLine(std::string line) {
  switch (state_) {
    case State::kAskUser:
      if (std::string_view user = TrimSpaces(line); !user.empty()) Login(std::string(user));
      return;
    case State::kAskPassword:
      if (line.empty()) return LoginFailed("no password given", false);
      return SendLogin(std::move(line));
    case State::kMenu: return Run(menu_.Read(line));
    case State::kChatting: return ChatLine(line);
    default: return;  // input waits while a request is in flight (the console is paused)
  }
}

// Runs one menu command. Those answered at once end with the prompt drawn again (the
// menu's, or its question); the others draw theirs when they are over (Ready).
void App::Run(const MenuInput& input) {
  switch (input.command) {
    case MenuCommand::kNothing:
    case MenuCommand::kAsk: break;
    case MenuCommand::kCancelled: console_.Print("cancelled"); break;
    case MenuCommand::kAdd: Account(proto::Verb::kAdd, input.arg); break;
    case MenuCommand::kDelete: Account(proto::Verb::kDel, input.arg); break;
    case MenuCommand::kChat: Call(input.arg); break;
    case MenuCommand::kList: ListBuddies(); break;
    case MenuCommand::kHelp: ShowMenu(); break;
    case MenuCommand::kQuit: return Quit(0);
    case MenuCommand::kUnknown: console_.Print("unknown command: " + Printable(input.arg) + " (type help)"); break;
  }
  Prompt();
}

void App::Account(proto::Verb verb, const std::string& buddy) {
  if (!proto::IsValidUserId(buddy)) return console_.Print("\"" + Printable(buddy) + "\" is not a valid user id");
  if (verb == proto::Verb::kAdd && buddy == me_) return console_.Print("you cannot add yourself");
  state_ = State::kRequesting;
  console_.Pause();
  proto::Request request{verb, me_, buddy};
  if (session_) session_->Prove(&request, WallClockMs());
  request_ = AccountRequest::Start(loop_, reinterpret_cast<const sockaddr*>(&options_.server_addr), options_.server,
                                   std::move(request), *this, options_.timeout_ms, &options_.tls);
}

void App::OnAccountReply(const proto::Request& request, const AccountRequest::Result& result) {
  request_ = nullptr;
  if (state_ == State::kLoggingIn) return OnLoginReply(result);
  if (state_ != State::kRequesting) return;
  if (!result.answered) {
    console_.Print(result.error + " (presence keeps trying)");
  } else {
    console_.Print(BuddyReplyWords(request.verb, request.buddy, result.reply, result.line));
    if (result.reply == proto::Reply::kOk && presence_) {
      if (request.verb == proto::Verb::kDel) presence_->Forget(request.buddy);
      presence_->AskNow();
    }
  }
  Ready();
}

void App::ListBuddies() {
  if (!presence_ || !presence_->have_list()) return console_.Print("no buddy list yet (waiting for the presence server)");
  const auto& buddies = presence_->buddies();
  if (buddies.empty()) return console_.Print("no buddies yet (add one with: add ID)");
  console_.Print("Buddies:");
  for (const auto& b : buddies) {
    std::string id = Printable(b.id);
    std::string row = "  " + id + std::string(id.size() < 12 ? 12 - id.size() : 1, ' ');
    row += b.online ? "ONLINE   " + Printable(b.ip) + ":" + std::to_string(b.msg_port) : "OFFLINE";
    console_.Print(row);
  }
}

void App::OnBuddyChanged(const proto::BuddyStatus& buddy) {
  std::string id = Printable(buddy.id);
  console_.Print(buddy.online ? id + " is now ONLINE at " + Printable(buddy.ip) + ":" + std::to_string(buddy.msg_port)
                              : id + " is now OFFLINE");
}

void App::OnPresenceUnauthorized() {
  console_.Print("the presence server refused our proof of identity (401 UNAUTHORIZED): log in again");
}

void App::Call(const std::string& buddy) {
  const proto::BuddyStatus* b = presence_ ? presence_->Find(buddy) : nullptr;
  if (b == nullptr) return console_.Print(Printable(buddy) + " is not your buddy (add them first)");
  if (!b->online) return console_.Print(Printable(buddy) + " is OFFLINE: cannot chat");
  sockaddr_storage addr{};
  if (!net::ParseIp(b->ip, b->msg_port, &addr)) return console_.Print("cannot chat: bad address for " + Printable(buddy));
  // Without a published key the peer cannot be told from an impostor, and nothing can be encrypted.
  if (b->chat_key.empty() && !options_.allow_plain_chat) return console_.Print(PlainRefusedWords(buddy));
  console_.Print("Calling " + Printable(buddy) + " at " + Printable(b->ip) + ":" + std::to_string(b->msg_port) + "...");
  state_ = State::kCalling;
  console_.Pause();
  chat_ = PeerConn::Call(loop_, *this, reinterpret_cast<const sockaddr*>(&addr), me_, buddy, options_.timeout_ms,
                         identity_, b->chat_key);
}

void App::OnPeerAccepted(PeerConn* conn) {
  if (conn != chat_) return;
  std::string peer = Printable(conn->peer());
  console_.Print((state_ == State::kCalling ? "Chatting with " + peer + ": type to send, q to end"
                                            : peer + " wants to chat: type to reply, q to end") +
                 ChatPrivacyWords(conn->encrypted(), conn->peer()));
  state_ = State::kChatting;
  Prompt();
  console_.Resume();
}

void App::OnCaller(PeerConn* conn, const std::string& peer) {
  CallerVerdict verdict = CheckCaller(presence_ ? presence_->Find(peer) : nullptr, conn->remote(), conn->peer_key(),
                                      options_.allow_plain_chat);
  if (verdict != CallerVerdict::kBuddy || state_ != State::kMenu) {
    std::string from = net::FormatIp(conn->remote());
    conn->Refuse();
    // A buddy who just came online or moved may call before our next GET: ask now, so a
    // second try finds the list fresh.
    if (verdict == CallerVerdict::kOffline || verdict == CallerVerdict::kWrongAddress ||
        verdict == CallerVerdict::kWrongKey) {
      presence_->AskNow();
    }
    // Anyone can dial the port and say anything: one notice per second per address at most.
    uint64_t held_back = 0;
    if (!refused_.Allow(from, uv_now(loop_), &held_back)) return;
    return console_.Print(verdict == CallerVerdict::kBuddy ? BusyCallerWords(peer, held_back)
                                                           : RefusedCallerWords(verdict, peer, from, held_back));
  }
  menu_.Reset();  // a question left unanswered gives way to the chat
  chat_ = conn;
  conn->Accept(*this);
  // Input waits until the chat is open (OnPeerAccepted), so no line goes to a peer that
  // has not yet proven its key.
  state_ = State::kAnswering;
  console_.Pause();
  Prompt();
}

void App::ChatLine(const std::string& line) {
  if (chat_ == nullptr) return;
  if (TrimSpaces(line) == "q") {
    std::string peer = chat_->peer();
    chat_->Leave();
    chat_ = nullptr;
    console_.Print("chat with " + Printable(peer) + " ended");
    return Ready();
  }
  if (!line.empty()) chat_->SendMessage(line);
}

void App::OnPeerMessage(PeerConn* conn, const std::string& text) {
  if (conn == chat_) console_.Print(Printable(conn->peer()) + ": " + Printable(text));
}

void App::OnPeerGone(PeerConn* conn, PeerConn::End end, int status) {
  if (conn == chat_) EndChat(PeerEndWords(end, conn->peer(), status));
}

void App::EndChat(const std::string& reason) {
  chat_ = nullptr;
  if (!reason.empty()) console_.Print(reason);
  if (state_ != State::kDone) Ready();
}

void App::OnEndOfInput() {
  Quit(me_.empty() || state_ == State::kLoggingIn || state_ == State::kAskPassword ? 1 : 0);
}

void App::OnInterrupt() { Quit(0); }

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
  chats_.Close();
  if (request_ != nullptr) {
    request_->Cancel();
    request_ = nullptr;
  }
  if (presence_) {
    presence_->SendOffline();
    presence_->Close();
  }
  if (!me_.empty() && exit_code == 0) console_.Print("Goodbye, " + me_ + ".");
  stop_.Close();
  console_.Close();
}

}  // namespace im::client
