// One step of the online (streaming) softmax over a block of keys, written once in plain C++ and compiled in each
// kernels/<isa>/ folder with that ISA's flags, where the compiler vectorizes it (the exp is a branch-free
// polynomial); AVX-512 and AVX2 have their own in intrinsics (kernels/<isa>/online_softmax_<isa>.cc), AVX-512 on
// the same constants, AVX2 on a polynomial over [0, 1). Included only by those files, and only inside an unnamed
// namespace: each ISA's file must get its own copy, since one inline function compiled with several flag sets is a
// single symbol the linker keeps once.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "../kernels.h"
#include "vector.h"

namespace fastmha {
namespace {

// 2^r for |r| <= 1/2 by a degree-6 polynomial fitted for relative error (2.2e-9), highest degree first.
constexpr float kExp2Poly[7] = {1.5370705e-4f, 1.3399848e-3f, 9.6183733e-3f, 5.5503290e-2f,
                                2.4022648e-1f, 6.9314721e-1f, 1.0f};
// Exponents are clamped here: 2^-125 times the polynomial (at least 2^-1/2) is still a normal number.
constexpr float kExp2Min = -125.0f;
// 1.5 * 2^23: adding it to a float of magnitude below 2^22 rounds it to an integer in the low mantissa bits.
constexpr float kRoundMagic = 12582912.0f;

// 2^x for x <= 0 (scores minus their running maximum), within 1 ulp: x = n + r with n an integer and |r| <= 1/2,
// 2^r by kExp2Poly, 2^n assembled in the exponent bits. Clamped to kExp2Min, so it is finite for every input, -inf
// included: callers compute it unconditionally and select after, since a call under a condition stays a scalar
// branch wherever the ISA has no masked arithmetic (AVX2, NEON, SSE2). F is a float or a Vector<V> of them, lane by
// lane the same operations.
template <typename F>
inline F exp2NonPositive(F x) {
  const F lowest = F{} + kExp2Min;
  x = x > lowest ? x : lowest;
  const F n = (x + kRoundMagic) - kRoundMagic;
  const F r = x - n;
  F p = F{} + kExp2Poly[0];
  for (int i = 1; i < 7; ++i) p = p * r + kExp2Poly[i];
  const auto bits = (toInt32(n) + 127) << 23;
  static_assert(sizeof bits == sizeof(F), "a float's bits in an int32");
  F scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// The unnormalized probability of a score x (base 2) given its row's maximum: 2^(x - max), exactly 0 for a masked
// score (-inf), and NaN for a NaN (a NaN query, key or bias, or maximum), which exp2NonPositive's clamp would make
// 2^-125, a weight like any other: the row's sum turns NaN, and so does its output, as PyTorch's does. The
// exponential is computed before the selects, whatever x is (see exp2NonPositive). F is a float or a Vector<V> of
// them, as there.
template <typename F>
inline F weight(F x, float max) {
  const F d = x - max;
  const F e = exp2NonPositive(d);
  return x == -std::numeric_limits<float>::infinity() ? F{} : d == d ? e : d;
}

// Scores are transposed, sᵀ[key][query] with NR queries a row (one B panel of the micro-kernel), so every step
// below runs across queries: independent SIMD lanes of a compile-time width, no horizontal reductions. They arrive
// scaled and in base 2 (the queries were scaled by scale * log2(e)). For each query: its running maximum m and sum
// l updated over these `keys` keys, s overwritten with 2^(s - m_new) (0 where -inf, i.e. masked), and alpha =
// 2^(m_old - m_new), the factor for what was accumulated before. A query with nothing allowed so far keeps
// m = -inf, alpha = 1 and zeros; a NaN score makes its query's sum NaN (weight), and with it the query's output.
// Columns past the tile's queries hold scores of zero queries: computed, never read.
// The maximum runs over vectors of V floats (the ISA's register width): written as a loop over the NR floats,
// GCC left it scalar, the running maxima spilled to the stack at each key (SSE2), or a compare and a branch per score
// (NEON). As written below, NEON's loop is a compare and a select per vector.
template <int NR, int V>
inline void onlineSoftmaxImpl(float* __restrict s, int64_t keys, float* __restrict m, float* __restrict l,
                              float* __restrict alpha) {
  static_assert(NR % V == 0, "a row of scores is whole vectors");
  using Vec = typename Vector<V>::type;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  float mNew[NR], shift[NR], sum[NR];
  Vec top[NR / V];
  for (int v = 0; v < NR / V; ++v) top[v] = loadVector<Vec>(m + v * V);
  for (int64_t k = 0; k < keys; ++k) {
    const float* row = s + k * NR;
    for (int v = 0; v < NR / V; ++v) {
      const Vec x = loadVector<Vec>(row + v * V);
      top[v] = top[v] >= x ? top[v] : x;  // a NaN score becomes the maximum, as maxps makes it on x86
    }
  }
  for (int v = 0; v < NR / V; ++v) storeVector(mNew + v * V, top[v]);
  for (int c = 0; c < NR; ++c) sum[c] = 0.0f;
  // A column still at -inf subtracts 0: its exps are all of -inf, which the select below zeroes.
  for (int c = 0; c < NR; ++c) shift[c] = mNew[c] == kNegInf ? 0.0f : mNew[c];
  for (int64_t k = 0; k < keys; ++k) {
    float* row = s + k * NR;
    for (int c = 0; c < NR; ++c) {
      const float p = weight(row[c], shift[c]);
      row[c] = p;
      sum[c] += p;
    }
  }
  for (int c = 0; c < NR; ++c) {
    alpha[c] = m[c] == kNegInf ? (mNew[c] == kNegInf ? 1.0f : 0.0f) : exp2NonPositive(m[c] - mNew[c]);
    l[c] = l[c] * alpha[c] + sum[c];
    m[c] = mNew[c];
  }
}

}  // namespace
}  // namespace fastmha
