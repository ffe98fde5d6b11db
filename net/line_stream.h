// Line framing over a Stream, done once for every line protocol (server requests, the
// client's account requests and chats, the balancer's probes): lines end in '\n', a '\r'
// before it is dropped, and a line longer than the bound is reported instead of growing
// a buffer. At most max_line_bytes + 2 bytes of a partial line are ever held, whatever
// the peer sends.
//
// Rules: a LineStream is a member of its owner. The owner may close it from any
// callback; it hears OnLinesClosed once the stream has closed, and may delete itself
// there (and only there, or after abandoning the stream by destroying the LineStream).
// Loop thread only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "net/stream.h"
#include "proto/line.h"

namespace im::net {

class LineStream : private Stream::Handler {
 public:
  class Handler {
   public:
    virtual void OnLinesConnected(int status) { (void)status; }
    virtual void OnLine(std::string_view line) = 0;
    // The peer sent more than the bound without a '\n'. Reading has stopped.
    virtual void OnLineTooLong() = 0;
    // The peer finished sending; `partial` is a last line that had no '\n' (maybe empty).
    virtual void OnLinesEnd(std::string_view partial) = 0;
    virtual void OnLinesError(int status) = 0;
    virtual void OnLinesDrained() {}
    virtual void OnLinesClosed() = 0;

   protected:
    ~Handler() = default;
  };

  LineStream(size_t max_line_bytes, Handler& handler);
  ~LineStream();  // abandons the stream if it is still open
  LineStream(const LineStream&) = delete;
  LineStream& operator=(const LineStream&) = delete;

  // Takes the stream (accepted or connecting); its events come here from now on.
  void Attach(Stream* stream);
  Stream* stream() const { return stream_; }

  // Reading is off until StartReading. StopReading ends it for good: lines not yet
  // delivered are discarded (one request per connection needs no more).
  int StartReading();
  void StopReading();
  int Write(std::string_view bytes);
  int Shutdown();
  void Close();
  bool closing() const { return closing_; }

 private:
  void OnStreamConnected(int status) override;
  void OnStreamRead(std::string_view bytes) override;
  void OnStreamEof() override;
  void OnStreamError(int status) override;
  void OnStreamDrained() override;
  void OnStreamClosed() override;
  void Deliver();

  Handler& handler_;
  Stream* stream_ = nullptr;   // null before Attach and after it closed
  proto::LineBuffer in_;
  size_t max_line_bytes_;
  bool reading_ = false;
  bool closing_ = false;
  bool eof_ = false;           // the peer's EOF arrived: reported after the lines before it
  bool too_long_ = false;
};

}  // namespace im::net
