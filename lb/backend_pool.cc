#include "lb/backend_pool.h"

namespace im::lb {

int BackendPool::Pick(const std::vector<bool>& tried) {
  for (size_t step = 0; step < backends_.size(); ++step) {
    size_t i = (next_ + step) % backends_.size();
    if (backends_[i].up && !(i < tried.size() && tried[i])) {
      next_ = (i + 1) % backends_.size();
      return static_cast<int>(i);
    }
  }
  return -1;
}

bool BackendPool::MarkDown(int index) {
  Backend& b = backends_[static_cast<size_t>(index)];
  bool changed = b.up;
  b.up = false;
  return changed;
}

bool BackendPool::MarkUp(int index) {
  Backend& b = backends_[static_cast<size_t>(index)];
  bool changed = !b.up;
  b.up = true;
  return changed;
}

size_t BackendPool::healthy() const {
  size_t n = 0;
  for (const auto& b : backends_) n += b.up;
  return n;
}

}  // namespace im::lb
