// Packing rows of A into MR-row panels (kernels.h, PackA), in plain C++. Included by each kernels/<isa>/ file and
// only inside an unnamed namespace, for the same reason as online_softmax.h: every ISA gets its own copy.
#pragma once

#include <cstdint>
#include <cstring>

namespace fastmha {
namespace {

// Panels of MR rows: for each k, MR consecutive floats; rows past m are zero. Writes stream sequentially and the
// MR source rows are MR sequential read streams.
template <int MR>
void packAPortable(const float* A, int64_t lda, int64_t m, int64_t kc, float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += MR, dst += MR * kc) {
    const float* src = A + i0 * lda;
    if (m - i0 >= MR) {
      for (int64_t k = 0; k < kc; ++k) {
        for (int i = 0; i < MR; ++i) dst[k * MR + i] = src[i * lda + k];
      }
    } else {  // the last panel, short (one row for a decode step): zeroed whole, then its rows placed
      std::memset(dst, 0, sizeof(float) * MR * kc);
      for (int64_t i = 0; i < m - i0; ++i) {
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + i] = src[i * lda + k];
      }
    }
  }
}

}  // namespace
}  // namespace fastmha
