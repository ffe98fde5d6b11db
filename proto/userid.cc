#include "proto/userid.h"

namespace im::proto {

bool IsValidUserId(std::string_view id) noexcept {
  if (id.empty() || id.size() > kMaxUserIdBytes) return false;
  for (unsigned char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace im::proto
