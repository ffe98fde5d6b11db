#include "tools/loadgen/tls_call.h"

#include "net/tcp_stream.h"
#include "net/tls_stream.h"
#include "proto/line.h"

namespace im::loadgen {

struct TlsCall final : net::Stream::Handler {
  Slot* slot = nullptr;
  const TlsTarget* target = nullptr;
  net::TlsStream* stream = nullptr;
  proto::LineBuffer in{4096};

  // Closes before reporting: the report may start the slot's next call.
  void Fail(const std::string& kind, const std::string& sample) {
    Slot& s = *slot;
    CloseTlsCall(this);
    s.events->OnFailure(s, kind, sample);
  }

  void Answer(const std::string& reply) {
    Slot& s = *slot;
    // TLS 1.3 sends its tickets after the handshake, so the session worth keeping is
    // the one the connection holds once the reply has come.
    if (target->resume) {
      if (SSL_SESSION* session = stream->TakeSession(); session != nullptr && SSL_SESSION_is_resumable(session)) {
        ForgetTlsSession(s);
        s.tls_session = session;
      } else if (session != nullptr) {
        SSL_SESSION_free(session);
      }
    }
    CloseTlsCall(this);
    s.events->OnReply(s, reply);
  }

  void OnStreamConnected(int status) override {
    if (status != 0) {
      std::string why = stream->error().empty() ? uv_err_name(status) : stream->error();
      return Fail("tls: " + why.substr(0, why.find(':')), why);
    }
    ++*target->handshakes;
    if (stream->resumed()) ++*target->resumed;
    int rc = stream->Write(slot->request.bytes);
    if (rc == 0) rc = stream->ReadStart();
    if (rc != 0) Fail(std::string("write: ") + uv_err_name(rc), "");
  }

  void OnStreamRead(std::string_view bytes) override {
    in.Append(bytes);
    std::string line;
    auto result = in.Next(&line);
    if (result == proto::LineBuffer::Result::kLine) return Answer(line);
    if (result != proto::LineBuffer::Result::kNeedMore) Fail("unexpected reply", "over-long or malformed line");
  }

  // A reply cut short by EOF is still judged: the server may close without a newline.
  void OnStreamEof() override {
    if (!in.Pending().empty()) return Answer(std::string(in.Pending()));
    Fail("closed without a reply", "");
  }

  void OnStreamError(int status) override {
    std::string why = stream->error().empty() ? uv_err_name(status) : stream->error();
    Fail(std::string("read: ") + why, "");
  }

  void OnStreamClosed() override {}
};

int StartTlsCall(uv_loop_t* loop, const sockaddr* to, const TlsTarget& target, Slot& slot) {
  auto* call = new TlsCall;
  call->slot = &slot;
  call->target = &target;
  net::TcpStream* tcp = net::TcpStream::Connect(loop, to, nullptr);
  tcp->SetNoDelay(true);  // as im-client: the request follows our Finished at once
  SSL_SESSION* offer = target.resume ? slot.tls_session : nullptr;
  call->stream = net::TlsStream::Connect(loop, tcp, target.ctx, target.name, call, offer);
  slot.tls_call = call;
  return 0;
}

void CloseTlsCall(TlsCall* call) {
  if (call->slot->tls_call == call) call->slot->tls_call = nullptr;
  call->stream->Abandon();
  delete call;
}

void ForgetTlsSession(Slot& slot) {
  if (slot.tls_session != nullptr) SSL_SESSION_free(slot.tls_session);
  slot.tls_session = nullptr;
}

}  // namespace im::loadgen
