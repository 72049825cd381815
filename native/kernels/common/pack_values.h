// Packing an attention head's values as the A operand of Oᵀ += Vᵀ Pᵀ (kernels.h, PackValuesT), in plain C++.
// Included by each kernels/<isa>/ file and only inside an unnamed namespace, for the same reason as
// online_softmax.h: every ISA gets its own copy, at its own MR.
#pragma once

#include <cstdint>
#include <cstring>

namespace fastmha {
namespace {

// Each value row is read once and its full panels' slices copied at a compile-time width: copied element by element
// at a run-time width, packing took as long as a short sequence's whole P V product.
template <int MR>
void packValuesTPortable(const float* values, int64_t ld, int64_t S, int64_t dv, float* dst) {
  const int64_t full = dv / MR, rest = dv - full * MR;
  for (int64_t s = 0; s < S; ++s) {
    const float* v = values + s * ld;
    float* d = dst + s * MR;
    for (int64_t i = 0; i < full; ++i) std::memcpy(d + i * MR * S, v + i * MR, MR * sizeof(float));
    if (rest > 0) {
      float* last = d + full * MR * S;
      for (int64_t i = 0; i < MR; ++i) last[i] = i < rest ? v[full * MR + i] : 0.0f;
    }
  }
}

}  // namespace
}  // namespace fastmha
