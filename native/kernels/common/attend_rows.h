// Attention query by query (kernels.h, AttendRows), in plain C++ vectorized over the head dimension by each ISA's
// flags. Included by each kernels/<isa>/ file inside an unnamed namespace, as online_softmax.h is (which it uses).
#pragma once

#include <cstdint>
#include <limits>

#include "online_softmax.h"

namespace fastmha {
namespace {

// Every loop over keys or over a head's dimensions below runs in blocks of a compile-time kAttendLanes: such a
// loop becomes whole vectors under each ISA's flags, where a loop of S iterations (under 16 here by design) would
// run entirely in its scalar remainder, and a plain float sum would chain dk dependent adds.
constexpr int64_t kAttendLanes = 16;

// The lanes' sum (maximum), pairwise: straight-line halvings once unrolled.
inline float sumLanes(float* part) {
#pragma GCC unroll 4
  for (int64_t w = kAttendLanes / 2; w > 0; w /= 2) {
#pragma GCC unroll 8
    for (int64_t i = 0; i < w; ++i) part[i] += part[i + w];
  }
  return part[0];
}

inline float maxLanes(float* top) {
#pragma GCC unroll 4
  for (int64_t w = kAttendLanes / 2; w > 0; w /= 2) {
#pragma GCC unroll 8
    for (int64_t i = 0; i < w; ++i) top[i] = top[i + w] > top[i] ? top[i + w] : top[i];
  }
  return top[0];
}

// q . k as kAttendLanes partial sums, added pairwise at the end.
inline float dotLanes(const float* __restrict q, const float* __restrict k, int64_t n) {
  float part[kAttendLanes] = {};
  int64_t d = 0;
  for (; d + kAttendLanes <= n; d += kAttendLanes) {
    for (int64_t i = 0; i < kAttendLanes; ++i) part[i] += q[d + i] * k[d + i];
  }
  for (int64_t i = 0; d + i < n; ++i) part[i] += q[d + i] * k[d + i];
  return sumLanes(part);
}

// q and out are not __restrict: out may overwrite q in place (see AttentionArgs::context), row t of q being read
// before row t of out is written. work: S rounded up to kAttendLanes floats.
inline void attendRowsImpl(const float* q, int64_t ldq, const float* __restrict k, int64_t ldk,
                           const float* __restrict v, int64_t ldv, int64_t T, int64_t S, int64_t dk, int64_t dv,
                           float scale, const uint8_t* allowed, float* out, int64_t ldo,
                           float* __restrict probs, float* __restrict work) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  constexpr int64_t W = kAttendLanes;
  const int64_t padded = (S + W - 1) / W * W;
  const float scale2 = scale * kLog2e;  // scores in base 2, for weight() (online_softmax.h)
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t s = S; s < padded; ++s) work[s] = kNegInf;  // padding: weight exactly 0 (the last row's it was)
    const float* qt = q + t * ldq;
    const uint8_t* ok = allowed ? allowed + t * S : nullptr;
    float* o = out + t * ldo;
    for (int64_t s = 0; s < S; ++s) work[s] = !ok || ok[s] ? dotLanes(qt, k + s * ldk, dk) * scale2 : kNegInf;
    float top[W];
    for (int64_t i = 0; i < W; ++i) top[i] = kNegInf;
    for (int64_t s0 = 0; s0 < padded; s0 += W) {
      for (int64_t i = 0; i < W; ++i) top[i] = work[s0 + i] > top[i] ? work[s0 + i] : top[i];
    }
    const float maxScore = maxLanes(top);
    for (int64_t d = 0; d < dv; ++d) o[d] = 0.0f;
    if (maxScore == kNegInf) {  // nothing to attend: a zero row, no division by zero
      if (probs) {
        for (int64_t s = 0; s < S; ++s) probs[t * S + s] = 0.0f;
      }
      continue;
    }
    float part[W] = {};
    for (int64_t s0 = 0; s0 < padded; s0 += W) {
      for (int64_t i = 0; i < W; ++i) {
        const float p = weight(work[s0 + i], maxScore);
        work[s0 + i] = p;
        part[i] += p;
      }
    }
    for (int64_t s = 0; s < S; ++s) {
      const float p = work[s];
      if (p == 0.0f) continue;
      const float* vs = v + s * ldv;
#pragma omp simd
      for (int64_t d = 0; d < dv; ++d) o[d] += p * vs[d];
    }
    const float inv = 1.0f / sumLanes(part);  // the sum >= 1: the maximum's own term is 2^0
    for (int64_t d = 0; d < dv; ++d) o[d] *= inv;
    if (probs) {
      for (int64_t s = 0; s < S; ++s) probs[t * S + s] = work[s] * inv;
    }
  }
}

}  // namespace
}  // namespace fastmha
