#include "input_copies.h"

#include <mutex>
#include <vector>

namespace fastmha {
namespace binding {
namespace {

// Enough for a few calls of a large layer in flight; a buffer that would take the total past it is freed.
constexpr size_t kKeptBytes = size_t{64} << 20;

struct Kept {
  std::mutex mutex;
  std::vector<std::pair<std::unique_ptr<char[]>, size_t>> buffers;
  size_t bytes = 0;
};

// Never destroyed: jobs of other environments may still hand buffers back while static destructors run at exit.
Kept& kept() {
  static Kept* k = new Kept();
  return *k;
}

}  // namespace

InputCopy::InputCopy(size_t bytes) {
  Kept& k = kept();
  {
    std::lock_guard<std::mutex> lock(k.mutex);
    // The smallest kept buffer that fits, so that small copies do not hold on to large buffers.
    size_t best = k.buffers.size();
    for (size_t i = 0; i < k.buffers.size(); ++i) {
      const size_t c = k.buffers[i].second;
      if (c >= bytes && (best == k.buffers.size() || c < k.buffers[best].second)) best = i;
    }
    if (best < k.buffers.size()) {
      data_ = std::move(k.buffers[best].first);
      capacity_ = k.buffers[best].second;
      k.bytes -= capacity_;
      k.buffers.erase(k.buffers.begin() + static_cast<std::ptrdiff_t>(best));
      return;
    }
  }
  data_.reset(new char[bytes > 0 ? bytes : 1]);
  capacity_ = bytes;
}

InputCopy::~InputCopy() {
  if (!data_) return;
  Kept& k = kept();
  std::lock_guard<std::mutex> lock(k.mutex);
  if (k.bytes + capacity_ > kKeptBytes) return;  // data_ frees it
  k.bytes += capacity_;
  k.buffers.emplace_back(std::move(data_), capacity_);
}

}  // namespace binding
}  // namespace fastmha
