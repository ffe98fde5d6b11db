#include "client/console.h"

#include <unistd.h>

#include "net/handle.h"

namespace im::client {
namespace {

using net::AsHandle;
using net::AsStream;

struct WriteReq {
  uv_write_t req;
  std::string bytes;
};

}  // namespace

Console::Console(uv_loop_t* loop, Handler& handler) : loop_(loop), handler_(handler) {}

int Console::Start() {
  // Output first, so errors while starting input can be printed.
  switch (uv_guess_handle(STDOUT_FILENO)) {
    case UV_TTY:
      if (uv_tty_init(loop_, &out_tty_, STDOUT_FILENO, 0) == 0) out_ = AsStream(&out_tty_);
      break;
    case UV_NAMED_PIPE:
      uv_pipe_init(loop_, &out_pipe_, 0);
      if (uv_pipe_open(&out_pipe_, STDOUT_FILENO) == 0) {
        out_ = AsStream(&out_pipe_);
      } else {
        uv_close(AsHandle(&out_pipe_), nullptr);
      }
      break;
    default:
      break;  // a file: plain write(2), which never waits on a reader
  }
  int rc = 0;
  switch (uv_guess_handle(STDIN_FILENO)) {
    case UV_TTY:
      rc = uv_tty_init(loop_, &in_tty_, STDIN_FILENO, 1);
      if (rc != 0) return rc;
      in_tty_.data = this;
      in_ = AsStream(&in_tty_);
      tty_in_ = uv_tty_set_mode(&in_tty_, UV_TTY_MODE_RAW) == 0;
      break;
    case UV_NAMED_PIPE:
    case UV_TCP:
      uv_pipe_init(loop_, &in_pipe_, 0);
      in_pipe_.data = this;
      rc = uv_pipe_open(&in_pipe_, STDIN_FILENO);
      if (rc != 0) return rc;
      in_ = AsStream(&in_pipe_);
      break;
    default: {
      // A regular file or /dev/null cannot be polled; read it whole now (bounded), and
      // hand its lines out one command at a time like a pipe's.
      char buf[65536];
      ssize_t n;
      while (file_input_.size() < (1u << 20) && (n = read(STDIN_FILENO, buf, sizeof buf)) > 0) {
        file_input_.append(buf, static_cast<size_t>(n));
      }
      piped_.Append(file_input_);
      input_ended_ = true;
      uv_idle_t* kick = new uv_idle_t;  // deliver on the loop, not from inside Start
      uv_idle_init(loop_, kick);
      kick->data = this;
      uv_idle_start(kick, [](uv_idle_t* idle) {
        static_cast<Console*>(idle->data)->DeliverPipedLines();
        uv_close(AsHandle(idle), [](uv_handle_t* h) { delete reinterpret_cast<uv_idle_t*>(h); });
      });
      return 0;
    }
  }
  return uv_read_start(in_, OnAlloc, OnRead);
}

void Console::Pause() { paused_ = true; }

void Console::Resume() {
  if (!paused_) return;
  paused_ = false;
  if (!tty_in_) DeliverPipedLines();
}

void Console::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) noexcept {
  auto* self = static_cast<Console*>(handle->data);
  *buf = uv_buf_init(self->read_buf_, sizeof self->read_buf_);
}

void Console::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<Console*>(stream->data);
  if (nread > 0) {
    std::string_view bytes(buf->base, static_cast<size_t>(nread));
    if (self->tty_in_) {
      self->OnTtyBytes(bytes);
    } else {
      self->piped_.Append(bytes);
      self->DeliverPipedLines();
    }
    return;
  }
  if (nread == 0) return;
  uv_read_stop(stream);
  self->input_ended_ = true;
  if (self->tty_in_) {
    self->handler_.OnEndOfInput();
  } else {
    self->DeliverPipedLines();
  }
}

// Hands out complete lines while not paused; when input has ended and every line is
// out, reports the end (a last line without '\n' counts as a line).
void Console::DeliverPipedLines() {
  std::string line;
  while (!paused_ && !closed_) {
    switch (piped_.Next(&line)) {
      case proto::LineBuffer::Result::kLine:
        Deliver(std::move(line));
        continue;
      case proto::LineBuffer::Result::kTooLong:
        Print("input line too long (over 1024 bytes): ignored the rest of the input");
        piped_.Clear();
        input_ended_ = true;
        break;
      case proto::LineBuffer::Result::kNeedMore:
        break;
    }
    if (input_ended_) {
      if (!piped_.Pending().empty()) {
        std::string last(piped_.Pending());
        piped_.Clear();
        Deliver(std::move(last));
        continue;
      }
      handler_.OnEndOfInput();
      input_ended_ = false;  // report once
    }
    return;
  }
}

void Console::Deliver(std::string line) {
  // A transcript shows what was typed, as a terminal would; a secret, never.
  if (!secret_) Write("> " + line + "\n");
  secret_ = false;
  handler_.OnLine(std::move(line));
}

void Console::OnTtyBytes(std::string_view bytes) {
  for (char c : bytes) {
    unsigned char u = static_cast<unsigned char>(c);
    if (escape_ > 0) {  // skip ESC [ ... final byte (arrow keys and the like)
      if (escape_ == 2 && c != '[' && c != 'O') escape_ = 0;
      else if (escape_ == 1 && (u < 0x40 || u > 0x7e)) continue;
      else --escape_;
      continue;
    }
    if (c == '\r' || c == '\n') {
      std::string line;
      line.swap(typed_);
      Write("\r\n");
      if (paused_) {
        Print("(still waiting for the last command; type it again in a moment)");
        continue;
      }
      secret_ = false;
      handler_.OnLine(std::move(line));
      if (!closed_) Redraw();
    } else if (u == 0x03) {
      Write("^C\r\n");
      handler_.OnInterrupt();
      return;
    } else if (u == 0x04) {
      if (typed_.empty()) {
        Write("\r\n");
        handler_.OnEndOfInput();
        return;
      }
    } else if (u == 0x7f || u == 0x08) {
      while (!typed_.empty() && (static_cast<unsigned char>(typed_.back()) & 0xc0) == 0x80) typed_.pop_back();
      if (!typed_.empty()) typed_.pop_back();
      Redraw();
    } else if (u == 0x15) {  // Ctrl-U
      typed_.clear();
      Redraw();
    } else if (u == 0x1b) {
      escape_ = 2;
    } else if (u >= 0x20 && typed_.size() < kMaxInputLine) {
      typed_.push_back(c);
      if (!secret_) Write(std::string(1, c));
    }
  }
}

void Console::SetPrompt(std::string prompt) {
  prompt_ = std::move(prompt);
  if (tty_in_) Redraw();
}

void Console::Redraw() {
  if (closed_) return;
  Write("\r\x1b[K" + prompt_ + (secret_ ? "" : typed_));
}

void Console::Print(std::string_view line) {
  if (tty_in_) {
    // Clear the input line, print above it, then put prompt and typed text back.
    Write("\r\x1b[K" + std::string(line) + "\r\n" + (closed_ ? "" : prompt_ + (secret_ ? "" : typed_)));
  } else {
    Write(std::string(line) + "\n");
  }
}

void Console::Write(std::string bytes) {
  if (out_ == nullptr) {
    for (size_t off = 0; off < bytes.size();) {
      ssize_t n = write(STDOUT_FILENO, bytes.data() + off, bytes.size() - off);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
    return;
  }
  uv_buf_t buf = uv_buf_init(bytes.data(), static_cast<unsigned>(bytes.size()));
  int n = uv_try_write(out_, &buf, 1);
  if (n == static_cast<int>(bytes.size())) return;
  if (n < 0 && n != UV_EAGAIN) return;  // stdout is gone; nothing to tell anyone
  // Bounded: a reader that stopped reading loses output rather than growing memory.
  if (uv_stream_get_write_queue_size(out_) > (1u << 20)) return;
  auto* req = new WriteReq;
  req->bytes = bytes.substr(n > 0 ? static_cast<size_t>(n) : 0);
  uv_buf_t rest = uv_buf_init(req->bytes.data(), static_cast<unsigned>(req->bytes.size()));
  if (uv_write(&req->req, out_, &rest, 1, [](uv_write_t* r, int) { delete reinterpret_cast<WriteReq*>(r); }) != 0) {
    delete req;
  }
}

void Console::Close() {
  if (closed_) return;
  closed_ = true;
  if (tty_in_) {
    Write("\r\x1b[K");
    uv_tty_reset_mode();
  }
  if (in_ != nullptr) uv_close(AsHandle(in_), nullptr);
  // Close stdout after what is queued: uv_close would cancel pending writes.
  if (out_ != nullptr) {
    auto* req = new uv_shutdown_t;
    req->data = out_;
    if (uv_shutdown(req, out_, [](uv_shutdown_t* r, int) {
          uv_close(AsHandle(static_cast<uv_stream_t*>(r->data)), nullptr);
          delete r;
        }) != 0) {
      delete req;
      uv_close(AsHandle(out_), nullptr);
    }
  }
}

}  // namespace im::client
