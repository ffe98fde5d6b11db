// One accepted TCP connection: read one request line, hand it to the group commit, write
// the reply it comes back with, close.
//
// Rules: a Session is created by Start and deletes itself once its stream has closed;
// Close() is idempotent and safe from any callback. It tells its owner when it stops
// waiting for its line and when it starts closing (its slot is free from then on; a
// reply that arrives later finds nothing and is dropped). Loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "net/line_stream.h"
#include "proto/request.h"

namespace im::server {

class AccountRequests;

class Session final : private net::LineStream::Handler {
 public:
  class Owner {
   public:
    virtual void OnSessionActive(Session* session) = 0;   // its request line arrived
    virtual void OnSessionClosing(Session* session) = 0;  // it will never reply any more

   protected:
    ~Owner() = default;
  };

  // Takes the accepted stream; Begin starts reading its request line (or Close drops it).
  static Session* Create(net::Stream* stream, Owner& owner, AccountRequests& queue);
  void Begin(uint64_t id);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Writes the reply line (`line`, or the reply's own line if empty), then closes. Only
  // the first reply counts. Only `reply` is logged: a line may carry a session key.
  void SendReply(proto::Reply reply, std::string_view line = {});
  void Close() noexcept;
  uint64_t id() const { return id_; }

 private:
  enum class State {
    kReading,       // waiting for the request line
    kWaitingStore,  // the request is in the group commit
    kReplying,      // the reply is being written
    kClosing,       // the stream is closing; OnLinesClosed deletes
  };

  Session(Owner& owner, AccountRequests& queue);
  ~Session() = default;  // only OnLinesClosed deletes
  void OnRequestLine(std::string_view line);

  // net::LineStream::Handler
  void OnLine(std::string_view line) override;
  void OnLineTooLong() override;
  void OnLinesEnd(std::string_view partial) override;
  void OnLinesError(int status) override;
  void OnLinesDrained() override;
  void OnLinesClosed() override;

  uint64_t id_ = 0;
  Owner& owner_;
  AccountRequests& queue_;
  State state_ = State::kReading;
  net::LineStream lines_;
  proto::Verb verb_ = proto::Verb::kReg;  // for the log line written with the reply
  std::string user_;                      // ditto; never the other arguments, which may be secret
  bool parsed_ = false;
};

}  // namespace im::server
