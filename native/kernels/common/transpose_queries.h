// Qᵀ of an attention tile (kernels.h, TransposeQueries) in plain C++, for the ISAs without a register transpose of
// their own. Included by each kernels/<isa>/ file and only inside an unnamed namespace, for the same reason as
// online_softmax.h: every ISA gets its own copy.
#pragma once

#include <cstdint>

namespace fastmha {
namespace {

template <int NR>
void transposeQueriesPortable(const float* q, int64_t ldq, int64_t rows, int64_t dk, float scale, float* dst) {
  for (int64_t c = 0; c < rows; ++c) {
    const float* row = q + c * ldq;
    for (int64_t d = 0; d < dk; ++d) dst[d * NR + c] = scale * row[d];
  }
  for (int64_t c = rows; c < NR; ++c) {
    for (int64_t d = 0; d < dk; ++d) dst[d * NR + c] = 0.0f;
  }
}

}  // namespace
}  // namespace fastmha
