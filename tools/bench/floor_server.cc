// The bench's floor: the least a server of this protocol's shape can do on one libuv
// loop. TCP: accept, read one line, write "200 OK\n", close. UDP: answer each datagram
// with a fixed three-line reply. No storage, no parsing. im-server is measured against it.
//   im-floor TCP_PORT UDP_PORT      (0 picks a free port; the ports are printed)
#include <signal.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "net/address.h"
#include "net/handle.h"

namespace {

using im::net::AsHandle;
using im::net::AsStream;

constexpr char kReply[] = "200 OK\n";
constexpr char kUdpReply[] =
    "alice 100 ONLINE 127.0.0.1 40001\nbob 101 OFFLINE unknown 0\ncarol 100 ONLINE 127.0.0.1 40003\n";

struct Conn {
  uv_tcp_t tcp;
  char buf[512];
  bool replied = false;
};

char g_udp_buf[65536];

void OnClose(uv_handle_t* h) { delete static_cast<Conn*>(h->data); }

void OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Conn*>(s->data);
  if (n > 0 && !c->replied && memchr(buf->base, '\n', static_cast<size_t>(n))) {
    c->replied = true;
    uv_buf_t out = uv_buf_init(const_cast<char*>(kReply), sizeof kReply - 1);
    uv_try_write(s, &out, 1);
    uv_close(AsHandle(s), OnClose);
  } else if (n < 0) {
    uv_close(AsHandle(s), OnClose);
  }
}

void OnConnection(uv_stream_t* server, int status) {
  if (status < 0) return;
  auto* c = new Conn;
  uv_tcp_init(server->loop, &c->tcp);
  c->tcp.data = c;
  if (uv_accept(server, AsStream(&c->tcp)) != 0) {
    uv_close(AsHandle(&c->tcp), OnClose);
    return;
  }
  uv_read_start(AsStream(&c->tcp),
                [](uv_handle_t* h, size_t, uv_buf_t* b) {
                  auto* conn = static_cast<Conn*>(h->data);
                  *b = uv_buf_init(conn->buf, sizeof conn->buf);
                },
                OnRead);
}

void OnUdp(uv_udp_t* udp, ssize_t n, const uv_buf_t*, const sockaddr* addr, unsigned) {
  if (n < 0 || addr == nullptr) return;
  uv_buf_t out = uv_buf_init(const_cast<char*>(kUdpReply), sizeof kUdpReply - 1);
  uv_udp_try_send(udp, &out, 1, addr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: im-floor TCP_PORT UDP_PORT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t* loop = uv_default_loop();
  uv_tcp_t server;
  uv_udp_t udp;
  sockaddr_storage addr;
  uv_tcp_init(loop, &server);
  im::net::ParseIp("127.0.0.1", atoi(argv[1]), &addr);
  uv_tcp_bind(&server, reinterpret_cast<sockaddr*>(&addr), 0);
  if (int rc = uv_listen(AsStream(&server), 511, OnConnection); rc != 0) {
    fprintf(stderr, "im-floor: listen: %s\n", uv_strerror(rc));
    return 1;
  }
  uv_udp_init(loop, &udp);
  im::net::ParseIp("127.0.0.1", atoi(argv[2]), &addr);
  if (int rc = uv_udp_bind(&udp, reinterpret_cast<sockaddr*>(&addr), 0); rc != 0) {
    fprintf(stderr, "im-floor: udp bind: %s\n", uv_strerror(rc));
    return 1;
  }
  uv_udp_recv_start(&udp, [](uv_handle_t*, size_t, uv_buf_t* b) { *b = uv_buf_init(g_udp_buf, sizeof g_udp_buf); }, OnUdp);
  sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&server, reinterpret_cast<sockaddr*>(&bound), &len);
  int tcp_port = im::net::PortOf(reinterpret_cast<sockaddr*>(&bound));
  len = sizeof bound;
  uv_udp_getsockname(&udp, reinterpret_cast<sockaddr*>(&bound), &len);
  fprintf(stderr, "listening tcp 127.0.0.1:%d\nlistening udp 127.0.0.1:%d\n", tcp_port,
          im::net::PortOf(reinterpret_cast<sockaddr*>(&bound)));
  return uv_run(loop, UV_RUN_DEFAULT);  // runs until killed: the bench stops it
}
