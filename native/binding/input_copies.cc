#include "input_copies.h"

#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

namespace fastmha {
namespace binding {
namespace {

// Enough for a few calls of a large layer in flight; a buffer that would take the total past it is freed.
constexpr size_t kKeptBytes = size_t{64} << 20;
// The copy starts at the same offset in a 4 KiB page as its source. glibc's memcpy copies large blocks with
// `rep movsb`, which on Zen 3 runs 10-15 times slower when the destination is 16 bytes past the source modulo 4 KiB
// (393 KiB: 14 -> 132-227 us), and a fresh copy of a JS array of 128 rows of 768 floats landed exactly there: a
// forward() over that memory spent 0.2 ms of its 2.5 ms in the copy.
constexpr size_t kPage = 4096;

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

InputCopy::InputCopy(const void* source, size_t bytes) {
  const size_t needed = bytes + kPage;
  Kept& k = kept();
  {
    std::lock_guard<std::mutex> lock(k.mutex);
    // The smallest kept buffer that fits, so that small copies do not hold on to large buffers.
    size_t best = k.buffers.size();
    for (size_t i = 0; i < k.buffers.size(); ++i) {
      const size_t c = k.buffers[i].second;
      if (c >= needed && (best == k.buffers.size() || c < k.buffers[best].second)) best = i;
    }
    if (best < k.buffers.size()) {
      data_ = std::move(k.buffers[best].first);
      capacity_ = k.buffers[best].second;
      k.bytes -= capacity_;
      k.buffers.erase(k.buffers.begin() + static_cast<std::ptrdiff_t>(best));
    }
  }
  if (!data_) {
    data_.reset(new char[needed]);
    capacity_ = needed;
  }
  const uintptr_t from = reinterpret_cast<uintptr_t>(source), to = reinterpret_cast<uintptr_t>(data_.get());
  offset_ = (from % kPage + kPage - to % kPage) % kPage;
  if (bytes > 0) std::memcpy(data_.get() + offset_, source, bytes);
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
