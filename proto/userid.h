// User ids: the one rule every program agrees on. No I/O.
#pragma once

#include <cstddef>
#include <string_view>

namespace im::proto {

inline constexpr std::size_t kMaxUserIdBytes = 32;

// True for 1 to 32 characters of [A-Za-z0-9_.-]. Ids are case-sensitive.
bool IsValidUserId(std::string_view id) noexcept;

}  // namespace im::proto
