// Line framing shared by every reader of a text stream (TCP requests, replies, chat,
// stdin): lines end in '\n', a '\r' before it is dropped, and a line longer than the
// reader's bound is an error instead of a growing buffer. No I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace im::proto {

// The longest request line the server accepts, not counting "\r\n".
inline constexpr std::size_t kMaxLineBytes = 256;

// Accumulates bytes and hands out complete lines. Holds at most max_line_bytes + 2
// unconsumed bytes of a partial line.
class LineBuffer {
 public:
  enum class Result {
    kLine,      // *line holds the next line, without its "\r\n"
    kNeedMore,  // no complete line yet
    kTooLong,   // the current line is over the bound; the buffer is unusable afterwards
  };

  explicit LineBuffer(std::size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  void Append(std::string_view bytes) { buf_.append(bytes); }
  Result Next(std::string* line);
  // What is left after the last complete line (e.g. a final line with no '\n' at EOF).
  std::string_view Pending() const { return std::string_view(buf_).substr(pos_); }
  void Clear() { buf_.clear(); pos_ = 0; }

 private:
  std::size_t max_line_bytes_;
  std::string buf_;
  std::size_t pos_ = 0;  // start of the first unconsumed byte
};

// Drops one trailing "\n" or "\r\n".
std::string_view StripLineEnd(std::string_view line) noexcept;

// True if the line holds a NUL, a control byte (< 0x20, other than none) or DEL.
bool HasControlBytes(std::string_view line) noexcept;

// Splits on runs of spaces; leading and trailing spaces are ignored.
std::vector<std::string_view> SplitWords(std::string_view line);

// ASCII case-insensitive equality.
bool EqualsIgnoreCase(std::string_view a, std::string_view b) noexcept;

// Parses a decimal port 0..65535 with no sign and no leading garbage.
bool ParsePort(std::string_view text, unsigned* port) noexcept;

}  // namespace im::proto
