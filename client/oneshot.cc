#include "client/oneshot.h"

#include <iostream>

#include "client/account_request.h"
#include "proto/line.h"
#include "proto/presence.h"
#include "proto/request.h"

namespace im::client {
namespace {

// Receives the one reply and decides the exit code.
class OneShot : public AccountRequest::Owner {
 public:
  void OnAccountReply(const AccountRequest::Result& result) override {
    if (!result.ok) {
      std::cerr << "im-client: " << result.error << std::endl;
      exit_code = 1;
      return;
    }
    std::cout << result.reply << std::endl;
    exit_code = result.reply.rfind("200", 0) == 0 ? 0 : 1;
  }
  int exit_code = 1;
};

struct GetState {
  uv_udp_t udp;
  uv_timer_t timer;
  std::string reply;
  bool answered = false;
  char buf[65536];
};

int RunGetOrSet(uv_loop_t* loop, const ClientOptions& options, const std::string& datagram, bool expect_reply) {
  GetState state;
  uv_udp_init(loop, &state.udp);
  uv_timer_init(loop, &state.timer);
  state.udp.data = state.timer.data = &state;
  sockaddr_storage any{};
  uv_ip4_addr("0.0.0.0", 0, reinterpret_cast<sockaddr_in*>(&any));
  if (options.presence_addr.ss_family == AF_INET6) uv_ip6_addr("::", 0, reinterpret_cast<sockaddr_in6*>(&any));
  uv_udp_bind(&state.udp, reinterpret_cast<sockaddr*>(&any), 0);
  uv_buf_t buf = uv_buf_init(const_cast<char*>(datagram.data()), static_cast<unsigned>(datagram.size()));
  int rc = uv_udp_try_send(&state.udp, &buf, 1, reinterpret_cast<const sockaddr*>(&options.presence_addr));
  auto close_all = [](GetState* s) {
    uv_close(reinterpret_cast<uv_handle_t*>(&s->udp), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->timer), nullptr);
  };
  if (rc < 0 || !expect_reply) {
    if (rc < 0) std::cerr << "im-client: send to " << options.presence << ": " << uv_strerror(rc) << std::endl;
    close_all(&state);
    uv_run(loop, UV_RUN_DEFAULT);
    return rc < 0 ? 1 : 0;
  }
  uv_udp_recv_start(
      &state.udp,
      [](uv_handle_t* h, size_t, uv_buf_t* b) {
        auto* s = static_cast<GetState*>(h->data);
        *b = uv_buf_init(s->buf, sizeof s->buf);
      },
      [](uv_udp_t* udp, ssize_t nread, const uv_buf_t* b, const sockaddr* addr, unsigned) {
        auto* s = static_cast<GetState*>(udp->data);
        if (nread < 0 || addr == nullptr || s->answered) return;
        s->answered = true;
        s->reply.assign(b->base, static_cast<size_t>(nread));
        uv_close(reinterpret_cast<uv_handle_t*>(&s->udp), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&s->timer), nullptr);
      });
  uv_timer_start(&state.timer, [](uv_timer_t* t) {
    auto* s = static_cast<GetState*>(t->data);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->udp), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->timer), nullptr);
  }, options.timeout_ms, 0);
  uv_run(loop, UV_RUN_DEFAULT);
  if (!state.answered) {
    std::cerr << "im-client: no reply from " << options.presence << " (timeout)" << std::endl;
    return 1;
  }
  std::cout << state.reply << std::flush;
  return proto::ParseGetReply(state.reply).kind == proto::GetReply::Kind::kBuddies ? 0 : 1;
}

}  // namespace

int RunOneShot(uv_loop_t* loop, const ClientOptions& options) {
  const auto& cmd = options.command;
  std::string verb = cmd[0];
  for (char& c : verb) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  auto usage = [](const char* text) {
    std::cerr << "im-client: usage: im-client " << text << std::endl;
    return 2;
  };
  if (verb == "get") {
    if (cmd.size() != 2) return usage("get ID");
    return RunGetOrSet(loop, options, proto::FormatGet(cmd[1]), true);
  }
  if (verb == "set") {
    unsigned port = 0;
    if (cmd.size() != 4 || !proto::ParsePort(cmd[3], &port)) return usage("set ID ONLINE|OFFLINE PORT");
    std::string datagram = "SET " + cmd[1] + " " + cmd[2] + " " + cmd[3] + "\n";
    return RunGetOrSet(loop, options, datagram, false);
  }
  std::string line;
  if (verb == "reg" && cmd.size() == 2) {
    line = "REG " + cmd[1] + "\n";
  } else if ((verb == "add" || verb == "del") && cmd.size() == 3) {
    line = (verb == "add" ? "ADD " : "DEL ") + cmd[1] + " " + cmd[2] + "\n";
  } else {
    return usage("reg ID | add ID BUDDY | del ID BUDDY | get ID | set ID ONLINE|OFFLINE PORT");
  }
  OneShot shot;
  AccountRequest::Start(loop, reinterpret_cast<const sockaddr*>(&options.server_addr), options.server, line, shot,
                        options.timeout_ms);
  uv_run(loop, UV_RUN_DEFAULT);
  return shot.exit_code;
}

}  // namespace im::client
