#include "server/session.h"

#include "net/address.h"
#include "net/log.h"
#include "proto/text.h"
#include "server/account_service.h"

namespace im::server {

Session::Session(Owner& owner, AccountRequests& queue)
    : owner_(owner), queue_(queue), lines_(proto::kMaxLineBytes, *this) {}

Session* Session::Create(net::Stream* stream, Owner& owner, AccountRequests& queue) {
  auto* session = new Session(owner, queue);
  session->lines_.Attach(stream);
  return session;
}

void Session::Begin(uint64_t id) {
  id_ = id;
  // No TCP_NODELAY: the reply is one write on an idle connection, which Nagle never
  // delays, and the setsockopt would be one more system call per request.
  if (lines_.StartReading() != 0) Close();
}

void Session::OnLine(std::string_view line) {
  if (state_ == State::kReading) OnRequestLine(line);
}

void Session::OnLinesEnd(std::string_view partial) {
  if (state_ != State::kReading) return;
  // A last line without '\n' followed by the client's half-close: still a request.
  if (!partial.empty()) return OnRequestLine(partial);
  Close();  // EOF with nothing sent: nobody to answer
}

void Session::OnLineTooLong() {
  if (state_ == State::kReading) SendReply(proto::Reply::kBadRequest);
}

void Session::OnLinesError(int) { Close(); }  // a reset: nobody to answer

void Session::OnRequestLine(std::string_view line) {
  lines_.StopReading();  // one request per connection; the rest is ignored
  owner_.OnSessionActive(this);
  // Reset after sending: its sender (a balancer whose wait ran out) has given up on this
  // request and may have retried it elsewhere, so it must not be applied here too.
  if (int error = lines_.stream()->TakePendingError(); error != 0) {
    IM_LOG(kInfo, "tcp %s: reset before its request was read (%s); not applied",
           net::FormatAddress(lines_.stream()->peer()).c_str(), uv_err_name(error));
    return Close();
  }
  auto parsed = proto::ParseRequest(line);
  if (auto* reply = std::get_if<proto::Reply>(&parsed)) return SendReply(*reply);
  auto& request = std::get<proto::Request>(parsed);
  parsed_ = true;
  verb_ = request.verb;
  // A probe asks whether this loop is alive: the answer needs nothing else.
  if (request.verb == proto::Verb::kPing) return SendReply(proto::Reply::kOk);
  verb_ = request.verb;
  if (net::LogEnabled(net::LogLevel::kInfo)) user_ = request.user;
  state_ = State::kWaitingStore;
  queue_.Submit(id_, std::move(request), reinterpret_cast<const sockaddr*>(&lines_.stream()->peer()));
}

void Session::SendReply(proto::Reply reply, std::string_view line) {
  if (state_ == State::kClosing || state_ == State::kReplying) return;
  state_ = State::kReplying;
  std::string_view logged = proto::ReplyLine(reply);
  if (line.empty()) line = logged;
  // A balancer's probes would fill the log: PING is logged at debug level only.
  net::LogLevel level = parsed_ && verb_ == proto::Verb::kPing ? net::LogLevel::kDebug : net::LogLevel::kInfo;
  if (net::LogEnabled(level)) {
    // The verb and the user only: other arguments (a password, a proof) are never logged.
    std::string what = parsed_ ? std::string(proto::VerbName(verb_)) + (user_.empty() ? "" : " " + proto::Printable(user_))
                               : "(unparsed)";
    net::LogWrite(level, "tcp %s %s -> %.*s", net::FormatAddress(lines_.stream()->peer()).c_str(), what.c_str(),
                  static_cast<int>(logged.size() - 1), logged.data());
  }
  // The reply is a few bytes on a fresh socket: it nearly always goes out at once.
  if (lines_.Write(line) != 0) return Close();  // the client is gone
  if (lines_.stream()->write_queue_bytes() == 0) Close();  // else when drained
}

void Session::OnLinesDrained() {
  if (state_ == State::kReplying) Close();
}

void Session::Close() noexcept {
  if (state_ == State::kClosing) return;
  state_ = State::kClosing;
  owner_.OnSessionClosing(this);
  lines_.Close();
}

void Session::OnLinesClosed() { delete this; }

}  // namespace im::server
