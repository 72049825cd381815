// Packing rows of A into MR-row panels (kernels.h, PackA), in plain C++. Included by each kernels/<isa>/ file and
// only inside an unnamed namespace, for the same reason as online_softmax.h: every ISA gets its own copy.
#pragma once

#include <cstdint>

namespace fastmha {
namespace {

// Panels of MR rows: for each k, MR consecutive floats; rows past m are zero. Writes stream sequentially and the
// MR source rows are MR sequential read streams.
template <int MR>
void packAPortable(const float* A, int64_t lda, int64_t m, int64_t kc, float* dst) {
  for (int64_t i0 = 0; i0 < m; i0 += MR, dst += MR * kc) {
    const int64_t rows = m - i0 < MR ? m - i0 : MR;
    const float* src = A + i0 * lda;
    float* d = dst;
    for (int64_t k = 0; k < kc; ++k, d += MR) {
      int64_t i = 0;
      for (; i < rows; ++i) d[i] = src[i * lda + k];
      for (; i < MR; ++i) d[i] = 0.0f;
    }
  }
}

}  // namespace
}  // namespace fastmha
