#include "net/line_stream.h"

#include <uv.h>

#include <algorithm>

namespace im::net {

LineStream::LineStream(size_t max_line_bytes, Handler& handler)
    : handler_(handler), in_(max_line_bytes), max_line_bytes_(max_line_bytes) {}

LineStream::~LineStream() {
  if (stream_ != nullptr) stream_->Abandon();
}

void LineStream::Attach(Stream* stream) {
  stream_ = stream;
  stream_->SetHandler(this);
}

int LineStream::StartReading() {
  if (closing_ || stream_ == nullptr) return UV_ECANCELED;
  reading_ = true;
  return stream_->ReadStart();
}

void LineStream::StopReading() {
  reading_ = false;
  in_.Clear();
  if (stream_ != nullptr && !closing_) stream_->ReadStop();
}

int LineStream::Write(std::string_view bytes) {
  if (closing_ || stream_ == nullptr) return -1;
  return stream_->Write(bytes);
}

int LineStream::Shutdown() {
  if (closing_ || stream_ == nullptr) return -1;
  return stream_->Shutdown();
}

void LineStream::Close() {
  if (closing_) return;
  closing_ = true;
  if (stream_ != nullptr) stream_->Close();
}

void LineStream::OnStreamConnected(int status) {
  if (!closing_) handler_.OnLinesConnected(status);
}

void LineStream::OnStreamRead(std::string_view bytes) {
  // Append up to each '\n' and hand the line out, and never more than one line's bound
  // of a line, so the buffer stays bounded however much arrives in one read.
  while (!bytes.empty() && reading_ && !closing_ && !too_long_) {
    size_t nl = bytes.find('\n');
    size_t room = max_line_bytes_ + 2 - in_.Pending().size();  // over max + 1 is too long
    size_t take = std::min(room, nl == std::string_view::npos ? bytes.size() : nl + 1);
    in_.Append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    Deliver();
  }
}

void LineStream::Deliver() {
  std::string line;
  while (reading_ && !closing_ && !too_long_) {
    switch (in_.Next(&line)) {
      case proto::LineBuffer::Result::kLine:
        handler_.OnLine(line);
        continue;
      case proto::LineBuffer::Result::kTooLong:
        too_long_ = true;
        if (stream_ != nullptr) stream_->ReadStop();
        handler_.OnLineTooLong();
        return;
      case proto::LineBuffer::Result::kNeedMore:
        if (eof_) {
          eof_ = false;  // report once
          std::string partial(proto::StripLineEnd(in_.Pending()));
          in_.Clear();
          handler_.OnLinesEnd(partial);
        }
        return;
    }
  }
}

void LineStream::OnStreamEof() {
  if (!reading_ || closing_) return;
  eof_ = true;
  Deliver();
}

void LineStream::OnStreamError(int status) {
  if (!closing_) handler_.OnLinesError(status);
}

void LineStream::OnStreamDrained() {
  if (!closing_) handler_.OnLinesDrained();
}

void LineStream::OnStreamClosed() {
  stream_ = nullptr;  // it frees itself after this returns
  handler_.OnLinesClosed();  // may delete the owner, and this with it: nothing after
}

}  // namespace im::net
