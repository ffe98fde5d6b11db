#include "proto/text.h"

#include <cstdint>

namespace im::proto {
namespace {

// Length of the valid UTF-8 sequence at text[i] and its code point; 0 if invalid
// (overlong forms, surrogates and values past U+10FFFF included).
size_t DecodeUtf8(std::string_view text, size_t i, uint32_t* cp) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char lead = byte(i);
  size_t len;
  uint32_t min;
  if (lead >= 0xc2 && lead <= 0xdf) {
    len = 2, min = 0x80, *cp = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    len = 3, min = 0x800, *cp = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    len = 4, min = 0x10000, *cp = lead & 0x07;
  } else {
    return 0;  // a continuation byte without a lead, or a byte UTF-8 never uses
  }
  if (i + len > text.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (byte(i + k) & 0x3f);
  }
  if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) return 0;
  return len;
}

bool IsHidden(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9f) ||       // C1 controls
         (cp >= 0x202a && cp <= 0x202e) ||   // LRE RLE PDF LRO RLO
         (cp >= 0x2066 && cp <= 0x2069) ||   // LRI RLI FSI PDI
         cp == 0x200e || cp == 0x200f || cp == 0x061c;  // LRM RLM ALM
}

}  // namespace

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
      ++i;
      continue;
    }
    uint32_t cp = 0;
    size_t len = DecodeUtf8(text, i, &cp);
    if (len == 0) {
      out += '?';
      ++i;
    } else {
      if (IsHidden(cp)) {
        out += '?';
      } else {
        out.append(text.substr(i, len));
      }
      i += len;
    }
  }
  return out;
}

}  // namespace im::proto
