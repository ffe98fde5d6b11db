#include "lb/splice.h"

#include <string>

#include "lb/backend_pool.h"
#include "lb/health_check.h"
#include "lb/options.h"
#include "net/log.h"
#include "proto/reply.h"

namespace im::lb {
namespace {
constexpr uint64_t kRejectLingerMs = 1000;
}

Splice::Splice(uv_loop_t* loop, Owner& owner, const LbOptions& options)
    : loop_(loop),
      owner_(owner),
      options_(options),
      timer_(loop, this, [](void* self) { static_cast<Splice*>(self)->OnTimer(); }),
      tried_(owner.pool().size(), false),
      accepted_ms_(uv_now(loop)),
      last_active_ms_(uv_now(loop)) {
  client_.splice = backend_.splice = this;
}

Splice* Splice::Create(uv_loop_t* loop, net::TcpStream* client, Owner& owner, const LbOptions& options) {
  auto* splice = new Splice(loop, owner, options);
  splice->client_.stream = client;
  client->SetHandler(&splice->client_);
  return splice;
}

void Splice::Begin(uint64_t id) {
  id_ = id;
  client_.stream->SetNoDelay(true);
  // Read from the start, so a client that has sent its request counts as active (it is
  // not shed or timed out) even while the backend connect is in flight.
  if (client_.stream->ReadStart() != 0) return Close();
  ConnectNext();
}

void Splice::ConnectNext() {
  bool first = backend_index_ < 0;
  int index = owner_.pool().Pick(tried_);
  if (index < 0) return Reject();
  backend_index_ = index;
  if (first) {
    IM_LOG(kInfo, "New client -> backend #%d", index);
  } else {
    IM_LOG(kInfo, "Retrying client -> backend #%d", index);
  }
  state_ = State::kConnecting;
  answered_ = false;
  const auto* addr = reinterpret_cast<const sockaddr*>(&owner_.pool().at(index).addr);
  backend_.stream = net::TcpStream::Connect(loop_, addr, &backend_);
  timer_.Start(options_.connect_timeout_ms);
}

void Splice::OnConnected(Side& side, int status) {
  if (&side != &backend_ || state_ != State::kConnecting) return;
  timer_.Stop();
  if (status != 0) return ConnectFailed(status);
  state_ = State::kSplicing;
  IM_LOG(kInfo, "Client connected to backend: %s", owner_.pool().at(backend_index_).name.c_str());
  backend_.stream->SetNoDelay(true);
  last_active_ms_ = uv_now(loop_);
  if (backend_.stream->ReadStart() != 0) return Close();
  // What the client sent meanwhile goes first; it stays in replay_ until the backend answers.
  if (!replay_.empty()) {
    if (backend_.stream->Write(replay_) != 0) return Close();
    if (request_sent_ || client_.eof) ArmReplyTimer();
    if (replay_.size() > kMaxReplay) {
      replay_overflow_ = true;
      std::string().swap(replay_);
    }
  }
  if (client_.eof) {
    if (backend_.stream->Shutdown() != 0) return Close();
  } else if (backend_.stream->write_queue_bytes() == 0 && client_.stream->ReadStart() != 0) {
    return Close();
  }  // else OnDrained resumes reading the client
}

void Splice::ConnectFailed(int err) {
  // The failed stream frees itself; this pair hears nothing more from it.
  backend_.stream->Abandon();
  backend_.stream = nullptr;
  if (IsLocalError(err)) {
    // Our own shortage: every backend would fail the same way, and none is to blame.
    IM_LOG(kWarn, "connect to backend #%d: %s (a local error: the backend stays up)", backend_index_,
           uv_strerror(err));
    return Reject();
  }
  owner_.ReportDown(backend_index_, uv_strerror(err));
  tried_[static_cast<size_t>(backend_index_)] = true;
  ConnectNext();
}

// The backend took the request and sent nothing back in time: it is stopped or stuck.
// Reset its connection (see docs/DESIGN.md for what that does and does not undo) and
// hand the request to the next healthy backend, if we still hold all of it.
void Splice::OnNoReply() {
  owner_.ReportDown(backend_index_, "no reply within --response-timeout (" +
                                        std::to_string(options_.response_timeout_ms) + " ms)");
  tried_[static_cast<size_t>(backend_index_)] = true;
  backend_.stream->SetHandler(nullptr);
  backend_.stream->CloseReset();
  backend_.stream = nullptr;
  backend_.eof = false;
  if (replay_overflow_) {
    IM_LOG(kInfo, "No reply and the request is too long to retry: client closed");
    return Close();
  }
  owner_.OnRetried(this);
  ConnectNext();
}

void Splice::OnTimer() {
  if (state_ == State::kConnecting) {
    ConnectFailed(UV_ETIMEDOUT);
  } else if (state_ == State::kSplicing) {
    if (!answered_) OnNoReply();
  } else if (state_ == State::kRejecting) {
    Close();
  }
}

void Splice::OnRead(Side& from, std::string_view bytes) {
  if (state_ == State::kRejecting || state_ == State::kClosing) return;  // the client's request is ignored
  last_active_ms_ = uv_now(loop_);
  if (&from == &client_ && !client_spoke_) {
    client_spoke_ = true;
    owner_.OnFirstBytes(this);
  }
  if (state_ == State::kConnecting) {
    // Only the client is read while connecting: keep its bytes, and one read's worth at most.
    if (bytes.find('\n') != std::string_view::npos) request_sent_ = true;
    replay_.append(bytes);
    if (replay_.size() >= kMaxReplay) client_.stream->ReadStop();
    return;
  }
  if (&from == &backend_) {
    if (!answered_) {
      answered_ = true;
      timer_.Stop();
      std::string().swap(replay_);
    }
  } else if (!answered_) {
    if (!replay_overflow_ && replay_.size() + bytes.size() <= kMaxReplay) {
      replay_.append(bytes);
    } else {
      replay_overflow_ = true;
      std::string().swap(replay_);
    }
    if (bytes.find('\n') != std::string_view::npos) {
      request_sent_ = true;
      ArmReplyTimer();
    }
  }
  Side& to = Other(from);
  if (to.stream->Write(bytes) != 0) return Close();
  // What the other side could not take waits in its stream: stop reading until it drains.
  if (to.stream->write_queue_bytes() > 0) from.stream->ReadStop();
}

void Splice::OnDrained(Side& to) {
  if (state_ != State::kSplicing) return;
  Side& from = Other(to);
  if (from.eof) {
    MaybeFinish();
  } else if (from.stream->ReadStart() != 0) {
    Close();
  }
}

// The source has ended: pass the end on at once once its bytes are out (uv_shutdown
// waits for them).
void Splice::OnEof(Side& from) {
  if (state_ == State::kRejecting) return Close();  // the client has closed: the 503 was delivered
  if (&from == &client_) owner_.OnClientEnded(this);  // its address's slot is free again
  if (state_ == State::kConnecting) {
    client_.eof = true;  // only the client is read while connecting
    if (replay_.empty()) Close();  // it left without a word: nothing to forward
    return;                        // else OnConnected forwards it and the end
  }
  if (state_ != State::kSplicing) return;
  from.eof = true;
  if (!answered_) {
    if (&from == &client_) {
      ArmReplyTimer();  // the end completes the request (a last line without '\n')
    } else {
      timer_.Stop();  // a backend that closes without a word is not stuck: no retry
    }
  }
  if (Other(from).stream->Shutdown() != 0) return Close();
  MaybeFinish();
}

// From the end of the request (a '\n' or the client's end), not from its first byte: a
// client that sends half a line and waits must not make its backend look stuck.
void Splice::ArmReplyTimer() {
  if (options_.response_timeout_ms > 0 && !answered_ && !backend_.eof && !timer_.active()) {
    timer_.Start(options_.response_timeout_ms);
  }
}

// Both directions have ended and every byte has been handed to the kernel.
void Splice::MaybeFinish() {
  if (client_.eof && backend_.eof && client_.stream->write_queue_bytes() == 0 &&
      backend_.stream->write_queue_bytes() == 0) {
    Close();
  }
}

// No backend can take this client: say so in one line, then linger until the client has
// closed (or a second has passed), so the reply is not lost to a reset caused by request
// bytes we never read.
void Splice::Reject() {
  state_ = State::kRejecting;
  std::string().swap(replay_);
  owner_.OnRejected(this);
  IM_LOG(kInfo, "No backend available: client rejected");
  net::TcpStream* client = client_.stream;
  if (client->Write(proto::ReplyLine(proto::Reply::kNoBackend)) != 0 || client->Shutdown() != 0 ||
      client->ReadStart() != 0) {
    return Close();
  }
  timer_.Start(kRejectLingerMs);
}

void Splice::Close() noexcept {
  if (state_ == State::kClosing) return;
  bool was_splicing = state_ == State::kSplicing;
  state_ = State::kClosing;
  if (was_splicing) IM_LOG(kInfo, "Connection closed");
  timer_.Stop();
  owner_.OnSpliceClosing(this);
  // The client stream always exists until its close completes, so OnSideClosed deletes.
  for (Side* side : {&client_, &backend_}) {
    if (side->stream != nullptr) side->stream->Close();
  }
}

void Splice::OnSideClosed(Side& side) {
  side.stream = nullptr;
  if (state_ != State::kClosing) Close();
  if (client_.stream == nullptr && backend_.stream == nullptr) delete this;
}

}  // namespace im::lb
