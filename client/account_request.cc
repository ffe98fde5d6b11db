#include "client/account_request.h"

#include "net/tcp_stream.h"
#include "net/tls_stream.h"

namespace im::client {

AccountRequest::AccountRequest(uv_loop_t* loop, Owner& owner, std::string server_name, proto::Request request)
    : owner_(&owner),
      server_name_(std::move(server_name)),
      request_(std::move(request)),
      lines_(proto::kMaxLineBytes, *this),
      timer_(loop, this, [](void* self) {
        auto* req = static_cast<AccountRequest*>(self);
        req->Fail("server " + req->server_name_ + " did not answer in time");
      }) {}

AccountRequest* AccountRequest::Start(uv_loop_t* loop, const sockaddr* server, std::string server_name,
                                      proto::Request request, Owner& owner, uint64_t timeout_ms,
                                      const TlsClient* tls) {
  auto* req = new AccountRequest(loop, owner, std::move(server_name), std::move(request));
  // A connect that fails at once is still reported from the loop (OnLinesConnected).
  net::TcpStream* tcp = net::TcpStream::Connect(loop, server, nullptr);
  net::Stream* stream = tcp;
  if (tls != nullptr && tls->ctx) {
    tcp->SetNoDelay(true);  // the request follows our Finished at once: not behind a delayed ACK
    stream = net::TlsStream::Connect(loop, stream, tls->ctx.get(), tls->name, nullptr);
  }
  req->lines_.Attach(stream);
  req->timer_.Start(timeout_ms);
  return req;
}

void AccountRequest::OnLinesConnected(int status) {
  if (status != 0) {
    // A TLS failure says what was wrong with the server's certificate; never a plain retry.
    if (auto* tls = dynamic_cast<net::TlsStream*>(lines_.stream()); tls != nullptr && !tls->error().empty()) {
      return Fail("TLS with server " + server_name_ + " failed: " + tls->error());
    }
    return Fail("cannot reach server " + server_name_ + ": " + uv_strerror(status));
  }
  int rc = lines_.StartReading();
  if (rc == 0) rc = lines_.Write(proto::FormatRequest(request_));
  if (rc != 0) Fail("server " + server_name_ + ": " + uv_strerror(rc));
}

void AccountRequest::OnLine(std::string_view line) {
  Finish({true, proto::ParseReply(line, proto::RepliesFor(request_.verb)), std::string(line), ""});
}

void AccountRequest::OnLineTooLong() { Fail("server " + server_name_ + " sent an over-long reply"); }

void AccountRequest::OnLinesEnd(std::string_view) {
  // A last line without '\n' is not a reply: the server always ends its line.
  Fail("server " + server_name_ + " closed the connection without a reply");
}

void AccountRequest::OnLinesError(int status) {
  Fail("server " + server_name_ + " closed the connection without a reply (" + uv_strerror(status) + ")");
}

void AccountRequest::Fail(std::string error) { Finish({false, std::nullopt, "", std::move(error)}); }

void AccountRequest::Finish(Result result) {
  Owner* owner = owner_;
  Cancel();  // this lives on until the stream has closed, so request_ stays valid below
  if (owner != nullptr) owner->OnAccountReply(request_, result);
}

void AccountRequest::Cancel() {
  owner_ = nullptr;
  timer_.Stop();
  lines_.Close();
}

}  // namespace im::client
