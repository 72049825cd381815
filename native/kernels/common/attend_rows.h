// Attention query by query (kernels.h, AttendRows), in plain C++ vectorized by each ISA's flags: over the keys when
// there are at most 16, over the head dimension otherwise. Included by each kernels/<isa>/ file inside an unnamed
// namespace, as online_softmax.h is (which it uses), with that ISA's register width (config.h, kVectorFloats).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "online_softmax.h"
#include "vector.h"

namespace fastmha {
namespace {

// Every loop over keys or over a head's dimensions below runs in blocks of a compile-time kAttendLanes (kernels.h):
// such a loop becomes whole vectors under each ISA's flags, where a loop of S iterations (under 16 here by design)
// would run entirely in its scalar remainder, and a plain float sum would chain dk dependent adds.

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

// The sum of a vector's lanes, by halvings in registers.
template <int V>
inline float sumVector(typename Vector<V>::type x) {
  if constexpr (V == 16) {
    return sumVector<8>(__builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7) +
                        __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15));
  } else if constexpr (V == 8) {
    return sumVector<4>(__builtin_shufflevector(x, x, 0, 1, 2, 3) + __builtin_shufflevector(x, x, 4, 5, 6, 7));
  } else {
    static_assert(V == 4, "vectors of 4, 8 or 16 floats");
    return (x[0] + x[2]) + (x[1] + x[3]);
  }
}

// q . k: partial sums in two vectors (two FMA chains), added across lanes once, in registers.
template <int V>
inline float dotVector(const float* q, const float* __restrict k, int64_t n) {
  using Vec = typename Vector<V>::type;
  Vec x = {}, y = {};
  int64_t d = 0;
  for (; d + 2 * V <= n; d += 2 * V) {
    x += loadVector<Vec>(q + d) * loadVector<Vec>(k + d);
    y += loadVector<Vec>(q + d + V) * loadVector<Vec>(k + d + V);
  }
  if (d + V <= n) {
    x += loadVector<Vec>(q + d) * loadVector<Vec>(k + d);
    d += V;
  }
  float sum = sumVector<V>(x + y);
  for (; d < n; ++d) sum += q[d] * k[d];
  return sum;
}

// o = scale * sum over s of p[s] v[s]: four vectors of o at a time held in registers over the keys (keys of weight 0,
// masked, skipped), then one, then single floats. o may be the query row just read.
template <int V>
inline void contextRow(const float* __restrict p, int64_t S, const float* __restrict v, int64_t ldv, int64_t dv,
                       float scale, float* o) {
  using Vec = typename Vector<V>::type;
  int64_t e = 0;
  for (; e + 4 * V <= dv; e += 4 * V) {
    Vec acc[4] = {};
    for (int64_t s = 0; s < S; ++s) {
      if (p[s] == 0.0f) continue;
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) acc[c] += p[s] * loadVector<Vec>(v + s * ldv + e + c * V);
    }
    for (int c = 0; c < 4; ++c) storeVector(o + e + c * V, acc[c] * scale);
  }
  for (; e + V <= dv; e += V) {
    Vec acc = {};
    for (int64_t s = 0; s < S; ++s) {
      if (p[s] != 0.0f) acc += p[s] * loadVector<Vec>(v + s * ldv + e);
    }
    storeVector(o + e, acc * scale);
  }
  for (; e < dv; ++e) {
    float x = 0.0f;
    for (int64_t s = 0; s < S; ++s) x += p[s] * v[s * ldv + e];
    o[e] = x * scale;
  }
}

// The largest lane of a vector, by halvings in registers, pairs taken as maxLanes takes them.
template <int V>
inline float maxVector(typename Vector<V>::type x) {
  if constexpr (V == 16) {
    const auto hi = __builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15);
    const auto lo = __builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7);
    return maxVector<8>(hi > lo ? hi : lo);
  } else if constexpr (V == 8) {
    const auto hi = __builtin_shufflevector(x, x, 4, 5, 6, 7), lo = __builtin_shufflevector(x, x, 0, 1, 2, 3);
    return maxVector<4>(hi > lo ? hi : lo);
  } else {
    static_assert(V == 4, "vectors of 4, 8 or 16 floats");
    const float a = x[2] > x[0] ? x[2] : x[0], b = x[3] > x[1] ? x[3] : x[1];
    return b > a ? b : a;
  }
}

// Is any lane of the P vectors NaN?
template <int V, int P>
inline bool anyNaN(const typename Vector<V>::type (&x)[P]) {
  for (int c = 0; c < P; ++c) {
    for (int i = 0; i < V; ++i) {
      if (x[c][i] != x[c][i]) return true;
    }
  }
  return false;
}

// Up to W keys (a short sentence, a cross-attention memory): keys are the lanes, kAttendLanes of them or one
// vector's. The head's keys are transposed once into kT[dk][W], so that four queries' scores are vertical FMAs over
// dk, at least eight independent chains, with no sum across lanes per key. Each query's softmax then runs on its P
// vectors of scores in registers.
template <int V, int W>
inline void attendFewKeys(const float* q, int64_t ldq, const float* __restrict k, int64_t ldk,
                          const float* __restrict v, int64_t ldv, int64_t T, int64_t S, int64_t dk, int64_t dv,
                          float scale2, const uint8_t* allowed, float* out, int64_t ldo, float* __restrict probs,
                          float* __restrict kT) {
  using Vec = typename Vector<V>::type;
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  static_assert(W % V == 0 && W <= kAttendLanes, "whole vectors of lanes, within attendRowsWorkFloats");
  using Ints = decltype(toInt32(Vec{}));
  Ints lane;
  for (int i = 0; i < V; ++i) lane[i] = i;
  constexpr int P = W / V;           // vectors per query's scores
  constexpr int Q = 4;               // queries at once
  constexpr int D = P == 1 ? 2 : 1;  // interleaved parts of dk, for eight chains on the widest vectors
  std::fill(kT, kT + dk * W, 0.0f);  // lanes past S: finite scores, replaced by -inf below
  for (int64_t s = 0; s < S; ++s) {
    for (int64_t d = 0; d < dk; ++d) kT[d * W + s] = k[s * ldk + d];
  }
  for (int64_t t0 = 0; t0 < T; t0 += Q) {
    // Rows past T repeat the last query: computed, never used, and nothing is read out of bounds.
    const float* rows[Q];
    for (int r = 0; r < Q; ++r) rows[r] = q + std::min<int64_t>(t0 + r, T - 1) * ldq;
    Vec acc[Q][D][P] = {};
    int64_t d = 0;
    auto step = [&](int j, int64_t at) {
#pragma GCC unroll 4
      for (int r = 0; r < Q; ++r) {
        const float x = rows[r][at];
#pragma GCC unroll 4
        for (int c = 0; c < P; ++c) acc[r][j][c] += x * loadVector<Vec>(kT + at * W + c * V);
      }
    };
    for (; d + D <= dk; d += D) {
#pragma GCC unroll 2
      for (int j = 0; j < D; ++j) step(j, d + j);
    }
    for (; d < dk; ++d) step(0, d);
    float scores[Q][W];
    for (int r = 0; r < Q; ++r) {
      for (int c = 0; c < P; ++c) {
        Vec sum = acc[r][0][c];
        for (int j = 1; j < D; ++j) sum += acc[r][j][c];
        storeVector(scores[r] + c * V, sum);
      }
    }
    // Every query of the block was read: now their rows of out may be written (out may be q).
    for (int64_t r = 0; r < Q && t0 + r < T; ++r) {
      const int64_t t = t0 + r;
      float* o = out + t * ldo;
      // The lanes a query may attend: keys under S and, when `allowed` is given, its row of that, copied into zeroed
      // lanes first (a select on `ok[s]` that must not read past S would be a branch per lane, its exp with it).
      uint8_t ok[W] = {};
      if (allowed) std::memcpy(ok, allowed + t * S, static_cast<size_t>(S));
      Vec x[P], top = Vec{} + kNegInf;
      for (int c = 0; c < P; ++c) {
        Ints keep = lane + c * V < static_cast<int32_t>(S);
        if (allowed) {
          Ints bytes;
          for (int i = 0; i < V; ++i) bytes[i] = ok[c * V + i];
          keep &= bytes != 0;
        }
        x[c] = keep ? loadVector<Vec>(scores[r] + c * V) * scale2 : Vec{} + kNegInf;
        top = x[c] > top ? x[c] : top;
      }
      const float maxScore = maxVector<V>(top);
      // Nothing to attend: a zero row, no division by zero. The maximum passes over NaN, so a query whose scores are
      // all NaN (a NaN query) is told apart here, and goes on to NaN weights (weight()) and a NaN row.
      if (maxScore == kNegInf && !anyNaN<V>(x)) {
        for (int64_t e = 0; e < dv; ++e) o[e] = 0.0f;
        if (probs) {
          for (int64_t s = 0; s < S; ++s) probs[t * S + s] = 0.0f;
        }
        continue;
      }
      float* p = scores[r];
      Vec sum = {};
      for (int c = 0; c < P; ++c) {
        x[c] = weight(x[c], maxScore);
        sum += x[c];
        storeVector(p + c * V, x[c]);
      }
      const float inv = 1.0f / sumVector<V>(sum);  // the sum >= 1: the maximum's own term is 2^0
      if (probs) {
        for (int64_t s = 0; s < S; ++s) probs[t * S + s] = p[s] * inv;
      }
      contextRow<V>(p, S, v, ldv, dv, inv, o);
    }
  }
}

// More keys (few queries: a decoding step), a dot product per key, in registers: summed across lanes on the
// stack, a float[16] at a time, it took about 60 cycles a score.
// q and out are not __restrict: out may overwrite q in place (see AttentionArgs::context), row t of q being read
// before row t of out is written. work: S rounded up to kAttendLanes floats.
template <int V>
inline void attendManyKeys(const float* q, int64_t ldq, const float* __restrict k, int64_t ldk,
                           const float* __restrict v, int64_t ldv, int64_t T, int64_t S, int64_t dk, int64_t dv,
                           float scale2, const uint8_t* allowed, float* out, int64_t ldo, float* __restrict probs,
                           float* __restrict work) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  constexpr int64_t W = kAttendLanes;
  const int64_t padded = (S + W - 1) / W * W;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t s = S; s < padded; ++s) work[s] = kNegInf;  // padding: weight exactly 0 (the last row's it was)
    const float* qt = q + t * ldq;
    const uint8_t* ok = allowed ? allowed + t * S : nullptr;
    float* o = out + t * ldo;
    for (int64_t s = 0; s < S; ++s) work[s] = !ok || ok[s] ? dotVector<V>(qt, k + s * ldk, dk) * scale2 : kNegInf;
    float top[W];
    for (int64_t i = 0; i < W; ++i) top[i] = kNegInf;
    for (int64_t s0 = 0; s0 < padded; s0 += W) {
      for (int64_t i = 0; i < W; ++i) top[i] = work[s0 + i] > top[i] ? work[s0 + i] : top[i];
    }
    const float maxScore = maxLanes(top);
    // Nothing to attend, unless a score is NaN (see attendFewKeys).
    if (maxScore == kNegInf && std::none_of(work, work + S, [](float x) { return x != x; })) {
      for (int64_t d = 0; d < dv; ++d) o[d] = 0.0f;
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
    const float inv = 1.0f / sumLanes(part);  // the sum >= 1: the maximum's own term is 2^0
    contextRow<V>(work, S, v, ldv, dv, inv, o);
    if (probs) {
      for (int64_t s = 0; s < S; ++s) probs[t * S + s] = work[s] * inv;
    }
  }
}

// Attention for short sequences (kernels.h, AttendRows); out may be q (see attendManyKeys).
template <int V>
inline void attendRowsImpl(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                           int64_t T, int64_t S, int64_t dk, int64_t dv, float scale, const uint8_t* allowed,
                           float* out, int64_t ldo, float* probs, float* work) {
  const float scale2 = scale * kLog2e;  // scores in base 2, for weight() (online_softmax.h)
  // Keys that fit one vector (a sentence of a few words) take one vector's lanes: with kAttendLanes, more than half
  // of the scores and of the keys' transpose would be padding.
  if (V < kAttendLanes && S <= V) {
    return attendFewKeys<V, V>(q, ldq, k, ldk, v, ldv, T, S, dk, dv, scale2, allowed, out, ldo, probs, work);
  }
  if (S <= kAttendLanes) {
    return attendFewKeys<V, kAttendLanes>(q, ldq, k, ldk, v, ldv, T, S, dk, dv, scale2, allowed, out, ldo, probs, work);
  }
  attendManyKeys<V>(q, ldq, k, ldk, v, ldv, T, S, dk, dv, scale2, allowed, out, ldo, probs, work);
}

}  // namespace
}  // namespace fastmha
