// A Stream with no socket behind it, for component tests of the classes that read and
// write streams: the test feeds what "the peer" sends and reads what was written. It
// keeps the real contract: results come from the loop, never from inside the call, and
// the stream frees itself after reporting OnStreamClosed.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <uv.h>

#include <cstring>
#include <string>

#include "net/stream.h"
#include "net/timer.h"

namespace im::test {

class FakeStream final : public net::Stream {
 public:
  // What the test still sees after the stream has freed itself.
  struct Record {
    std::string written;
    bool closed = false;       // Close() was called
    bool close_reported = false;
    bool shut_down = false;
    int reads_started = 0;
  };

  FakeStream(uv_loop_t* loop, Record* record, const char* peer_ip = "192.0.2.7", int peer_port = 40000)
      : record_(record), closer_(loop, this, [](void* self) { static_cast<FakeStream*>(self)->Finish(); }) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&peer_);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(peer_port));
    inet_pton(AF_INET, peer_ip, &v4->sin_addr);
  }

  // --- The peer's side.
  void Feed(std::string_view bytes) {
    if (reading_ && handler_ != nullptr && !closing_) handler_->OnStreamRead(bytes);
  }
  void FeedEof() {
    if (reading_ && handler_ != nullptr && !closing_) handler_->OnStreamEof();
  }
  void FeedError(int status) {
    if (handler_ != nullptr && !closing_) handler_->OnStreamError(status);
  }
  // The kernel "cannot take" writes until Drain(): write_queue_bytes() reports them.
  void HoldWrites(bool hold) { hold_ = hold; }
  void Drain() {
    queued_ = 0;
    if (handler_ != nullptr && !closing_) handler_->OnStreamDrained();
  }
  bool reading() const { return reading_; }

  // --- net::Stream.
  int ReadStart() override {
    if (closing_) return UV_ECANCELED;
    reading_ = true;
    ++record_->reads_started;
    return 0;
  }
  void ReadStop() override { reading_ = false; }
  int Write(std::string_view bytes) override {
    if (closing_) return UV_ECANCELED;
    record_->written.append(bytes);
    if (hold_) queued_ += bytes.size();
    return 0;
  }
  size_t write_queue_bytes() const override { return queued_; }
  int Shutdown() override {
    if (closing_) return UV_ECANCELED;
    record_->shut_down = true;
    return 0;
  }
  void Close() override {
    if (closing_) return;
    closing_ = true;
    record_->closed = true;
    closer_.Start(0);  // reported from the loop, as a real close is
  }
  const sockaddr_storage& peer() const override { return peer_; }

 private:
  ~FakeStream() override = default;
  void Finish() {
    record_->close_reported = true;
    Handler* handler = handler_;
    delete this;  // first, as a real stream frees itself right after its close callback
    if (handler != nullptr) handler->OnStreamClosed();
  }

  Record* record_;
  net::Timer closer_;
  sockaddr_storage peer_{};
  bool reading_ = false;
  bool closing_ = false;
  bool hold_ = false;
  size_t queued_ = 0;
};

}  // namespace im::test
