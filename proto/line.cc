#include "proto/line.h"

namespace im::proto {

LineBuffer::Result LineBuffer::Next(std::string* line) {
  std::size_t nl = buf_.find('\n', pos_);
  if (nl == std::string::npos) {
    // The partial line may still gain a "\r\n" (2 bytes) before it is judged.
    if (buf_.size() - pos_ > max_line_bytes_ + 1) return Result::kTooLong;
    if (pos_ > 0 && pos_ == buf_.size()) Clear();
    return Result::kNeedMore;
  }
  std::string_view text(buf_.data() + pos_, nl - pos_);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (text.size() > max_line_bytes_) return Result::kTooLong;
  line->assign(text);
  pos_ = nl + 1;
  // Compact once the consumed prefix dominates, so the buffer stays bounded.
  if (pos_ == buf_.size()) {
    Clear();
  } else if (pos_ > 4096 && pos_ * 2 > buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return Result::kLine;
}

std::string_view StripLineEnd(std::string_view line) noexcept {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool HasControlBytes(std::string_view line) noexcept {
  for (unsigned char c : line) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

std::vector<std::string_view> SplitWords(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x -= 32;
    if (y >= 'a' && y <= 'z') y -= 32;
    if (x != y) return false;
  }
  return true;
}

bool ParsePort(std::string_view text, unsigned* port) noexcept {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return false;
  *port = value;
  return true;
}

}  // namespace im::proto
