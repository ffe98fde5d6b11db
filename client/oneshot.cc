#include "client/oneshot.h"

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

// Receives the reply and decides the exit code. An ADD/DEL with a password logs in first
// (REG with it) and sends the request with a proof from the granted session.
class OneShot : public AccountRequest::Owner {
 public:
  OneShot(uv_loop_t* loop, const ClientOptions& options, std::optional<proto::Request> after_login)
      : loop_(loop), options_(options), after_login_(std::move(after_login)) {}

  void Start(proto::Request request) {
    AccountRequest::Start(loop_, reinterpret_cast<const sockaddr*>(&options_.server_addr), options_.server,
                          std::move(request), *this, options_.timeout_ms);
  }

  void OnAccountReply(const proto::Request& request, const AccountRequest::Result& result) override {
    if (!result.answered) {
      std::cerr << "im-client: " << result.error << std::endl;
      exit_code = 1;
      return;
    }
    // A grant holds the session key: only the reply's words are printed.
    std::optional<proto::SessionGrant> grant;
    if (request.verb == proto::Verb::kReg && !request.password.empty()) grant = proto::ParseGrant(result.line);
    bool logged_in = grant && (result.reply == proto::Reply::kOk || result.reply == proto::Reply::kLoggedIn);
    if (logged_in && after_login_) {
      std::optional<Session> session = Session::FromGrant(*grant, WallClockMs());
      if (!session) {
        std::cerr << "im-client: the server's log-in grant is malformed" << std::endl;
        exit_code = 1;
        return;
      }
      proto::Request next = std::move(*after_login_);
      after_login_.reset();
      session->Prove(&next, WallClockMs());
      return Start(std::move(next));
    }
    std::cout << (logged_in ? std::string(proto::StripLineEnd(proto::ReplyLine(*result.reply)))
                            : proto::Printable(result.line))
              << std::endl;
    exit_code = result.reply == proto::Reply::kOk || (logged_in && !after_login_) ? 0 : 1;
  }
  int exit_code = 1;

 private:
  uv_loop_t* loop_;
  const ClientOptions& options_;
  std::optional<proto::Request> after_login_;  // the ADD/DEL to send once logged in
};

// One presence datagram and, for GET, the one reply; lives on RunDatagram's stack.
struct DatagramState {
  uv_udp_t udp;
  net::Timer* timeout = nullptr;  // stopped once the reply is in, so uv_run can return
  std::string reply;
  bool answered = false;
  char buf[proto::kMaxDatagramBytes];
};

void CloseUdp(DatagramState* state) {
  if (!uv_is_closing(net::AsHandle(&state->udp))) uv_close(net::AsHandle(&state->udp), nullptr);
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

int RunDatagram(uv_loop_t* loop, const ClientOptions& options, const std::string& datagram, bool expect_reply) {
  DatagramState state;
  uv_udp_init(loop, &state.udp);
  state.udp.data = &state;
  net::Timer timeout(loop, &state, [](void* s) { CloseUdp(static_cast<DatagramState*>(s)); });
  state.timeout = &timeout;
  sockaddr_storage any{};
  net::ParseIp(options.presence_addr.ss_family == AF_INET6 ? "::" : "0.0.0.0", 0, &any);
  uv_udp_bind(&state.udp, reinterpret_cast<const sockaddr*>(&any), 0);
  uv_buf_t buf = uv_buf_init(const_cast<char*>(datagram.data()), static_cast<unsigned>(datagram.size()));
  int rc = uv_udp_try_send(&state.udp, &buf, 1, reinterpret_cast<const sockaddr*>(&options.presence_addr));
  if (rc < 0 || !expect_reply) {
    if (rc < 0) std::cerr << "im-client: send to " << options.presence << ": " << uv_strerror(rc) << std::endl;
    CloseUdp(&state);
    uv_run(loop, UV_RUN_DEFAULT);
    return rc < 0 ? 1 : 0;
  }
  uv_udp_recv_start(
      &state.udp,
      [](uv_handle_t* h, size_t, uv_buf_t* b) {
        auto* s = static_cast<DatagramState*>(h->data);
        *b = uv_buf_init(s->buf, sizeof s->buf);
      },
      [](uv_udp_t* udp, ssize_t nread, const uv_buf_t* b, const sockaddr* addr, unsigned flags) {
        auto* s = static_cast<DatagramState*>(udp->data);
        if (nread < 0 || addr == nullptr || (flags & UV_UDP_PARTIAL) || s->answered) return;
        s->answered = true;
        s->reply.assign(b->base, static_cast<size_t>(nread));
        s->timeout->Stop();
        CloseUdp(s);
      });
  timeout.Start(options.timeout_ms);
  // Runs until the reply or the timeout has closed the UDP handle and stopped the timer.
  uv_run(loop, UV_RUN_DEFAULT);
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
  if (verb == "get") {
    if (cmd.size() != 2) return Usage("get ID");
    return RunDatagram(loop, options, proto::FormatGet(cmd[1]), true);
  }
  if (verb == "set") {
    bool online = false;
    unsigned port = 0;
    if (cmd.size() != 4 || !proto::ParseStatus(cmd[2], &online) || !proto::ParsePort(cmd[3], &port)) {
      return Usage("set ID ONLINE|OFFLINE|100|101 PORT");
    }
    return RunDatagram(loop, options, proto::FormatSet(cmd[1], online, static_cast<uint16_t>(port)), false);
  }
  std::string error;
  std::optional<std::string> password = GivenPassword(options, &error);
  if (!error.empty()) {
    std::cerr << "im-client: " << error << std::endl;
    return 2;
  }
  proto::Request request;
  if (verb == "reg" && cmd.size() == 2) {
    request = {proto::Verb::kReg, cmd[1], "", password.value_or("")};
  } else if ((verb == "add" || verb == "del") && cmd.size() == 3) {
    request = {verb == "add" ? proto::Verb::kAdd : proto::Verb::kDel, cmd[1], cmd[2]};
  } else {
    return Usage("reg ID | add ID BUDDY | del ID BUDDY | get ID | set ID ONLINE|OFFLINE PORT");
  }
  std::optional<proto::Request> after_login;
  if (request.verb != proto::Verb::kReg && password) {
    after_login = std::move(request);
    request = {proto::Verb::kReg, after_login->user, "", *password};
  }
  OneShot shot(loop, options, std::move(after_login));
  shot.Start(std::move(request));
  uv_run(loop, UV_RUN_DEFAULT);
  return shot.exit_code;
}

}  // namespace im::client
