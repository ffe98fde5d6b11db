// One account request (REG/ADD/DEL) over its own TCP connection: connect, send the line,
// read the one reply line, done; bounded by a timeout. Framing is LineStream's, the line
// and the reply table are proto's.
//
// Rules: an AccountRequest deletes itself once its stream has closed (OnLinesClosed).
// The owner hears the outcome exactly once, from the loop (never from inside Start), or
// nothing at all after Cancel. Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <optional>
#include <string>

#include "net/line_stream.h"
#include "net/timer.h"
#include "client/tls_client.h"
#include "proto/reply.h"
#include "proto/request.h"

namespace im::client {

class AccountRequest final : private net::LineStream::Handler {
 public:
  struct Result {
    bool answered = false;              // a reply line arrived
    std::optional<proto::Reply> reply;  // which one, among those the verb can get; nullopt for another line
    std::string line;                   // the line as sent, without "\r\n": remote text, Printable it to show
    std::string error;                  // when not answered: "cannot reach server HOST:PORT: connection refused"
  };
  class Owner {
   public:
    // `request` is the one that was sent; it lives until the callback returns.
    virtual void OnAccountReply(const proto::Request& request, const Result& result) = 0;

   protected:
    ~Owner() = default;
  };

  // Starts the request; `server_name` is how messages name the server. With `tls` the
  // request goes over TLS and the server's certificate must be valid for tls->name.
  static AccountRequest* Start(uv_loop_t* loop, const sockaddr* server, std::string server_name,
                               proto::Request request, Owner& owner, uint64_t timeout_ms,
                               const TlsClient* tls = nullptr);
  AccountRequest(const AccountRequest&) = delete;
  AccountRequest& operator=(const AccountRequest&) = delete;
  // Abandons the request: the owner hears nothing more.
  void Cancel();

 private:
  AccountRequest(uv_loop_t* loop, Owner& owner, std::string server_name, proto::Request request);
  ~AccountRequest() = default;  // only OnLinesClosed deletes
  void Finish(Result result);
  void Fail(std::string error);

  // net::LineStream::Handler
  void OnLinesConnected(int status) override;
  void OnLine(std::string_view line) override;
  void OnLineTooLong() override;
  void OnLinesEnd(std::string_view partial) override;
  void OnLinesError(int status) override;
  void OnLinesClosed() override { delete this; }

  Owner* owner_;  // null once finished or cancelled
  std::string server_name_;
  proto::Request request_;
  net::LineStream lines_;
  net::Timer timer_;  // the whole request, connect to reply
};

}  // namespace im::client
