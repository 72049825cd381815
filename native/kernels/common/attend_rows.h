// Attention query by query (kernels.h, AttendRows), in plain C++ vectorized over the head dimension by each ISA's
// flags. Included by each kernels/<isa>/ file inside an unnamed namespace, as online_softmax.h is (which it uses).
#pragma once

#include <cstdint>
#include <limits>

#include "online_softmax.h"

namespace fastmha {
namespace {

// q and out are not __restrict: out may overwrite q in place (see AttentionArgs::context), row t of q being read
// before row t of out is written.
inline void attendRowsImpl(const float* q, int64_t ldq, const float* __restrict k, int64_t ldk,
                           const float* __restrict v, int64_t ldv, int64_t T, int64_t S, int64_t dk, int64_t dv,
                           float scale, const uint8_t* allowed, float* out, int64_t ldo,
                           float* __restrict probs, float* __restrict work) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int64_t t = 0; t < T; ++t) {
    const float* qt = q + t * ldq;
    const uint8_t* ok = allowed ? allowed + t * S : nullptr;
    float* o = out + t * ldo;
    float maxScore = kNegInf;
    for (int64_t s = 0; s < S; ++s) {
      float dot = 0.0f;
      if (!ok || ok[s]) {
        const float* ks = k + s * ldk;
#pragma omp simd reduction(+ : dot)
        for (int64_t d = 0; d < dk; ++d) dot += qt[d] * ks[d];
        dot *= scale;
        maxScore = dot > maxScore ? dot : maxScore;
      } else {
        dot = kNegInf;
      }
      work[s] = dot;
    }
    for (int64_t d = 0; d < dv; ++d) o[d] = 0.0f;
    if (maxScore == kNegInf) {  // nothing to attend: a zero row, no division by zero
      if (probs) {
        for (int64_t s = 0; s < S; ++s) probs[t * S + s] = 0.0f;
      }
      continue;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t s = 0; s < S; ++s) {
      const float p = work[s] == kNegInf ? 0.0f : expNonPositive(work[s] - maxScore);
      work[s] = p;
      sum += p;
    }
    for (int64_t s = 0; s < S; ++s) {
      const float p = work[s];
      if (p == 0.0f) continue;
      const float* vs = v + s * ldv;
#pragma omp simd
      for (int64_t d = 0; d < dv; ++d) o[d] += p * vs[d];
    }
    const float inv = 1.0f / sum;  // sum >= 1: the maximum's own term is exp(0)
    for (int64_t d = 0; d < dv; ++d) o[d] *= inv;
    if (probs) {
      for (int64_t s = 0; s < S; ++s) probs[t * S + s] = work[s] * inv;
    }
  }
}

}  // namespace
}  // namespace fastmha
