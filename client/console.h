// The terminal side of the client: reads lines from stdin and prints lines to stdout
// without ever garbling what the user is typing.
//
// On a terminal, stdin is put in raw mode and the console keeps the line being typed
// itself, so an asynchronous line (a buddy came online, a chat message) is printed on a
// line of its own and the prompt and the half-typed input are redrawn after it. On a pipe
// or a file there is no prompt: lines in, lines out (each input line echoed as "> line"
// so a transcript reads like the screen), for scripts and tests.
// Loop thread only; the object must outlive uv_run.
#pragma once

#include <uv.h>

#include <string>
#include <string_view>

#include "proto/line.h"

namespace im::client {

class Console {
 public:
  class Handler {
   public:
    virtual void OnLine(std::string line) = 0;
    virtual void OnEndOfInput() = 0;  // Ctrl-D on an empty line, or the pipe closed
    virtual void OnInterrupt() = 0;   // Ctrl-C
   protected:
    ~Handler() = default;
  };

  Console(uv_loop_t* loop, Handler& handler);
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Starts reading stdin. Returns a libuv error code on failure.
  int Start();
  // Stops delivering lines (they wait in the kernel) until Resume: one command at a time.
  void Pause();
  void Resume();
  void SetPrompt(std::string prompt);
  // The next line is a secret (a password): on a terminal what is typed is not shown, on
  // a pipe the line is not echoed to the transcript. Over once that line is delivered.
  void ExpectSecret() { secret_ = true; }
  // Prints one complete line (no "\n" needed).
  void Print(std::string_view line);
  void Close();  // restores the terminal
  bool interactive() const { return tty_in_; }

 private:
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept;
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
  void OnTtyBytes(std::string_view bytes);
  void DeliverPipedLines();
  void Deliver(std::string line);  // one piped line to the handler
  void Redraw();
  void Write(std::string bytes);

  static constexpr size_t kMaxInputLine = 1024;

  uv_loop_t* loop_;
  Handler& handler_;
  bool tty_in_ = false;
  bool paused_ = false;
  bool input_ended_ = false;
  bool closed_ = false;
  bool secret_ = false;
  uv_tty_t in_tty_;
  uv_pipe_t in_pipe_;
  uv_stream_t* in_ = nullptr;     // one of the two above, or null (stdin is a file)
  uv_tty_t out_tty_;
  uv_pipe_t out_pipe_;
  uv_stream_t* out_ = nullptr;    // null: stdout is a file, written directly
  std::string prompt_;
  std::string typed_;             // the line being edited (terminal only)
  int escape_ = 0;                // bytes left of an escape sequence being skipped
  proto::LineBuffer piped_{kMaxInputLine};
  std::string file_input_;        // stdin read whole when it is a regular file
  char read_buf_[4096];
};

}  // namespace im::client
