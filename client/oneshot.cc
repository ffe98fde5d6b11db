#include "client/oneshot.h"

#include <functional>
#include <iostream>

#include "client/account_request.h"
#include "client/password.h"
#include "client/session.h"
#include "net/address.h"
#include "net/handle.h"
#include "net/timer.h"
#include "proto/line.h"
#include "proto/presence.h"
#include "proto/request.h"
#include "proto/text.h"

namespace im::client {
namespace {

// Runs one account request to its end; the result, or nothing after a failure (printed).
class OneRequest : public AccountRequest::Owner {
 public:
  static std::optional<AccountRequest::Result> Run(uv_loop_t* loop, const ClientOptions& options,
                                                   proto::Request request) {
    OneRequest owner;
    AccountRequest::Start(loop, reinterpret_cast<const sockaddr*>(&options.server_addr), options.server,
                          std::move(request), owner, options.timeout_ms, &options.tls);
    uv_run(loop, UV_RUN_DEFAULT);
    if (owner.result_ && !owner.result_->answered) {
      std::cerr << "im-client: " << owner.result_->error << std::endl;
      return std::nullopt;
    }
    return owner.result_;
  }
  void OnAccountReply(const proto::Request&, const AccountRequest::Result& result) override { result_ = result; }

 private:
  std::optional<AccountRequest::Result> result_;
};

// What a REG with a password got: the session if it logged in. `reply_words` is what to
// print for it: the reply's words alone, since the grant after them holds the session key.
std::optional<Session> LogIn(uv_loop_t* loop, const ClientOptions& options, const std::string& user,
                             const std::string& password, std::string* reply_words) {
  auto result = OneRequest::Run(loop, options, proto::Request{proto::Verb::kReg, user, "", password});
  if (!result) return std::nullopt;
  bool granted = result->reply == proto::Reply::kOk || result->reply == proto::Reply::kLoggedIn;
  std::optional<proto::SessionGrant> grant = granted ? proto::ParseGrant(result->line) : std::nullopt;
  if (!grant) {
    *reply_words = proto::Printable(result->line);
    return std::nullopt;
  }
  *reply_words = std::string(proto::StripLineEnd(proto::ReplyLine(*result->reply)));
  std::optional<Session> session = Session::FromGrant(*grant, WallClockMs());
  if (!session) *reply_words = "the server's log-in grant is malformed";
  return session;
}

// One presence datagram and, for GET, its reply; lives on RunDatagram's stack. The socket
// is connected: only the presence server's answers arrive. A COOKIE answer is taken once:
// the datagram goes again with the cookie (and a fresh proof).
struct DatagramState {
  uv_udp_t udp;
  net::Timer* timeout = nullptr;  // stopped once done, so uv_run can return
  std::function<std::string(std::string_view cookie)> build;
  bool is_get = false;
  bool expect_reply = false;  // GET; or a proven SET, whose first answer is a COOKIE
  bool resent = false;
  std::string reply;
  bool answered = false;
  int send_error = 0;
  char buf[proto::kMaxDatagramBytes];
};

void CloseUdp(DatagramState* state) {
  state->timeout->Stop();
  if (!uv_is_closing(net::AsHandle(&state->udp))) uv_close(net::AsHandle(&state->udp), nullptr);
}

bool SendDatagram(DatagramState* state, std::string_view cookie) {
  std::string datagram = state->build(cookie);
  uv_buf_t buf = uv_buf_init(datagram.data(), static_cast<unsigned>(datagram.size()));
  int rc = uv_udp_try_send(&state->udp, &buf, 1, nullptr);
  if (rc < 0) state->send_error = rc;
  return rc >= 0;
}

void OnDatagram(uv_udp_t* udp, ssize_t nread, const uv_buf_t* b, const sockaddr* addr, unsigned flags) {
  auto* s = static_cast<DatagramState*>(udp->data);
  if (nread < 0 || addr == nullptr || (flags & UV_UDP_PARTIAL) || s->answered) return;
  std::string_view datagram(b->base, static_cast<size_t>(nread));
  proto::GetReply parsed = proto::ParseGetReply(datagram);
  if (parsed.kind == proto::GetReply::Kind::kCookie && !s->resent) {
    s->resent = true;
    bool sent = SendDatagram(s, parsed.cookie);
    if (sent && s->is_get) return;  // wait for the list
    return CloseUdp(s);  // a SET is done once it went with the cookie
  }
  s->answered = true;
  s->reply.assign(datagram);
  CloseUdp(s);
}

// Prints a GET reply line by line, each made safe for the terminal.
void PrintDatagram(std::string_view datagram) {
  while (!datagram.empty()) {
    size_t nl = datagram.find('\n');
    std::string_view line = datagram.substr(0, nl);
    std::cout << proto::Printable(proto::StripLineEnd(line)) << '\n';
    datagram.remove_prefix(nl == std::string_view::npos ? datagram.size() : nl + 1);
  }
  std::cout << std::flush;
}

int RunDatagram(uv_loop_t* loop, const ClientOptions& options, DatagramState& state) {
  uv_udp_init(loop, &state.udp);
  state.udp.data = &state;
  net::Timer timeout(loop, &state, [](void* s) { CloseUdp(static_cast<DatagramState*>(s)); });
  state.timeout = &timeout;
  int rc = uv_udp_connect(&state.udp, reinterpret_cast<const sockaddr*>(&options.presence_addr));
  if (rc == 0 && state.expect_reply) {
    rc = uv_udp_recv_start(
        &state.udp,
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* s = static_cast<DatagramState*>(h->data);
          *b = uv_buf_init(s->buf, sizeof s->buf);
        },
        OnDatagram);
  }
  if (rc == 0 && SendDatagram(&state, "") && state.expect_reply) {
    timeout.Start(options.timeout_ms);
  } else {
    CloseUdp(&state);
  }
  // Runs until the reply or the timeout has closed the UDP handle and stopped the timer.
  uv_run(loop, UV_RUN_DEFAULT);
  if (rc != 0 || state.send_error != 0) {
    std::cerr << "im-client: send to " << options.presence << ": " << uv_strerror(rc != 0 ? rc : state.send_error)
              << std::endl;
    return 1;
  }
  if (!state.is_get) return state.answered ? (PrintDatagram(state.reply), 1) : 0;  // a SET's only answer is an error
  if (!state.answered) {
    std::cerr << "im-client: no reply from " << options.presence << " (timeout)" << std::endl;
    return 1;
  }
  PrintDatagram(state.reply);
  return proto::ParseGetReply(state.reply).kind == proto::GetReply::Kind::kBuddies ? 0 : 1;
}

int Usage(const char* text) {
  std::cerr << "im-client: usage: im-client " << text << std::endl;
  return 2;
}

}  // namespace

int RunOneShot(uv_loop_t* loop, const ClientOptions& options) {
  const auto& cmd = options.command;
  std::string verb = cmd[0];
  for (char& c : verb) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  bool online = false;
  unsigned port = 0;
  bool ok = (verb == "get" && cmd.size() == 2) || (verb == "reg" && cmd.size() == 2) ||
            ((verb == "add" || verb == "del") && cmd.size() == 3) ||
            (verb == "set" && cmd.size() == 4 && proto::ParseStatus(cmd[2], &online) && proto::ParsePort(cmd[3], &port));
  if (!ok) {
    if (verb == "set") return Usage("set ID ONLINE|OFFLINE|100|101 PORT");
    return Usage("reg ID | add ID BUDDY | del ID BUDDY | get ID | set ID ONLINE|OFFLINE PORT");
  }
  std::string error;
  std::optional<std::string> password = GivenPassword(options, &error);
  if (!error.empty()) {
    std::cerr << "im-client: " << error << std::endl;
    return 2;
  }
  const std::string& user = cmd[1];
  // With a password every command logs in first; reg is nothing but that.
  std::optional<Session> session;
  if (password) {
    std::string words;
    session = LogIn(loop, options, user, *password, &words);
    if (verb == "reg" || !session) {
      if (!words.empty()) std::cout << words << std::endl;
      return session ? 0 : 1;
    }
  }
  Session* prover = session ? &*session : nullptr;
  if (verb == "get" || verb == "set") {
    DatagramState state;
    bool is_get = state.is_get = verb == "get";
    state.build = [&](std::string_view cookie) {
      std::string datagram = is_get ? proto::FormatGet(user, cookie)
                                    : proto::FormatSet(user, online, static_cast<uint16_t>(port), cookie);
      return prover ? prover->ProveDatagram(datagram, WallClockMs()) : datagram;
    };
    // A proven SET without a cookie is answered COOKIE: wait for it and go again.
    state.expect_reply = is_get || prover != nullptr;
    return RunDatagram(loop, options, state);
  }
  proto::Request request{verb == "reg" ? proto::Verb::kReg : verb == "add" ? proto::Verb::kAdd : proto::Verb::kDel,
                         user, verb == "reg" ? "" : cmd[2]};
  if (prover) prover->Prove(&request, WallClockMs());
  auto result = OneRequest::Run(loop, options, std::move(request));
  if (!result) return 1;
  std::cout << proto::Printable(result->line) << std::endl;
  return result->reply == proto::Reply::kOk ? 0 : 1;
}

}  // namespace im::client
