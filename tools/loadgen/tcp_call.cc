#include "tools/loadgen/tcp_call.h"

#include <arpa/inet.h>

#include "net/handle.h"

namespace im::loadgen {
namespace {

bool Current(TcpCall* call) {
  return !call->closed && call->slot->call == call && call->slot->generation == call->generation;
}

// Closes the call before reporting: the report may start the slot's next call.
void Fail(TcpCall* call, const std::string& kind, const std::string& sample) {
  Slot& s = *call->slot;
  CloseTcpCall(call);
  s.events->OnFailure(s, kind, sample);
}

void Answer(TcpCall* call, const std::string& reply) {
  Slot& s = *call->slot;
  CloseTcpCall(call);
  s.events->OnReply(s, reply);
}

void OnAlloc(uv_handle_t* h, size_t, uv_buf_t* b) noexcept {
  auto* c = static_cast<TcpCall*>(h->data);
  *b = uv_buf_init(c->buf, sizeof c->buf);
}

void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* call = static_cast<TcpCall*>(stream->data);
  if (!Current(call)) return;
  if (nread > 0) {
    call->in.Append(std::string_view(buf->base, static_cast<size_t>(nread)));
    std::string line;
    auto result = call->in.Next(&line);
    if (result == proto::LineBuffer::Result::kLine) {
      Answer(call, line);
    } else if (result != proto::LineBuffer::Result::kNeedMore) {
      Fail(call, "unexpected reply", "over-long or malformed line");
    }
    return;
  }
  if (nread == 0) return;
  // A reply cut short by EOF is still judged: the server may close without a newline.
  if (nread == UV_EOF && !call->in.Pending().empty()) return Answer(call, std::string(call->in.Pending()));
  Fail(call, nread == UV_EOF ? "closed without a reply" : std::string("read: ") + uv_err_name(static_cast<int>(nread)), "");
}

void OnConnect(uv_connect_t* req, int status) noexcept {
  auto* call = static_cast<TcpCall*>(req->handle->data);
  if (status == UV_ECANCELED || !Current(call)) return;
  if (status != 0) return Fail(call, std::string("connect: ") + uv_err_name(status), "");
  // A failed write shows up as a read error or EOF, so the write callback has no work.
  uv_buf_t buf = uv_buf_init(call->bytes.data(), static_cast<unsigned>(call->bytes.size()));
  uv_stream_t* stream = net::AsStream(&call->tcp);
  int rc = uv_write(&call->write_req, stream, &buf, 1, [](uv_write_t*, int) {});
  if (rc == 0) rc = uv_read_start(stream, OnAlloc, OnRead);
  if (rc != 0) Fail(call, std::string("write: ") + uv_err_name(rc), "");
}

// A call to an IPv4 loopback target comes from 127.0.0.1-254 by slot, as the UDP slots'
// datagrams do (udp_engine.cc): the server throttles registrations with a password per
// source address, and seeding a proven scenario registers hundreds.
int BindSource(uv_tcp_t* tcp, const sockaddr* to, int slot_index) {
  if (to->sa_family != AF_INET) return 0;
  const auto* target = reinterpret_cast<const sockaddr_in*>(to);
  if ((ntohl(target->sin_addr.s_addr) >> 24) != 127) return 0;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr.s_addr = htonl((127u << 24) | static_cast<uint32_t>(1 + slot_index % 254));
  return uv_tcp_bind(tcp, reinterpret_cast<const sockaddr*>(&local), 0);
}

}  // namespace

int StartTcpCall(uv_loop_t* loop, const sockaddr* to, Slot& slot) {
  auto* call = new TcpCall;
  call->slot = &slot;
  call->generation = slot.generation;
  call->bytes = slot.request.bytes;
  uv_tcp_init(loop, &call->tcp);
  call->tcp.data = call;
  slot.call = call;
  int rc = BindSource(&call->tcp, to, slot.index);
  if (rc == 0) rc = uv_tcp_connect(&call->connect_req, &call->tcp, to, OnConnect);
  if (rc != 0) CloseTcpCall(call);
  return rc;
}

void CloseTcpCall(TcpCall* call) {
  if (call->closed) return;
  call->closed = true;
  if (call->slot->call == call) call->slot->call = nullptr;
  uv_close(net::AsHandle(&call->tcp), [](uv_handle_t* h) { delete static_cast<TcpCall*>(h->data); });
}

}  // namespace im::loadgen
