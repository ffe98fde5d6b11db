// The backends and their health, and round-robin choice among the healthy ones. No I/O:
// the balancer reports what it saw (MarkDown/MarkUp) and asks whom to try next.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <string>
#include <vector>

namespace im::lb {

struct Backend {
  std::string name;        // "127.0.0.1:5001", as given
  sockaddr_storage addr{};  // resolved once at start-up
  bool up = true;           // optimistic until a connect fails
};

class BackendPool {
 public:
  explicit BackendPool(std::vector<Backend> backends) : backends_(std::move(backends)) {}

  // The next healthy backend in round-robin order that is not in `tried` (indexed like
  // the backends), or -1 if there is none. Advances the rotation.
  int Pick(const std::vector<bool>& tried);
  // Return true if the state changed (so the caller logs it once).
  bool MarkDown(int index);
  bool MarkUp(int index);

  size_t size() const { return backends_.size(); }
  const Backend& at(int index) const { return backends_[static_cast<size_t>(index)]; }
  size_t healthy() const;

 private:
  std::vector<Backend> backends_;
  size_t next_ = 0;  // where the rotation continues
};

}  // namespace im::lb
