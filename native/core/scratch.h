// Scratch memory for one forward, kept by the calling thread between calls: a fresh multi-megabyte buffer per
// call costs page faults and zeroing on every call. Uninitialized; 64-byte aligned.
#pragma once

#include <cstddef>

#include "gemm.h"

namespace fastmha {

class Scratch {
 public:
  // Kept between calls up to this size; a larger buffer is freed by the next reserve of a smaller one, so a
  // single huge call does not pin its memory for the life of the thread.
  static constexpr size_t kRetainBytes = size_t{64} << 20;

  float* reserve(size_t floats) {
    if (capacity_ < floats || (capacity_ * sizeof(float) > kRetainBytes && floats * sizeof(float) <= kRetainBytes)) {
      buffer_.reset();
      buffer_ = allocateFloats(floats);
      capacity_ = floats;
    }
    return buffer_.get();
  }

 private:
  AlignedFloats buffer_;
  size_t capacity_ = 0;
};

}  // namespace fastmha
