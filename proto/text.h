// Text from the network made safe to show on a terminal or write to a log. No I/O.
#pragma once

#include <string>
#include <string_view>

namespace im::proto {

// Replaces with '?' everything a peer could use to take over a terminal or disguise
// text: C0 controls (below 0x20, escape sequences start with one), DEL, C1 controls
// (U+0080-U+009F, which some terminals obey, and the raw bytes 0x80-0x9F), the
// bidirectional overrides, embeddings, isolates and marks (U+202A-U+202E, U+2066-U+2069,
// U+200E, U+200F, U+061C), and every byte that is not part of valid UTF-8. Valid UTF-8
// text otherwise passes unchanged.
std::string Printable(std::string_view text);

}  // namespace im::proto
