#include <immintrin.h>

#include "config.h"

namespace fastmha {
namespace avx2 {
namespace {

constexpr int MR = kGemm.mr;

// Lane j of the mask is set when j < count (AVX2 masked loads and stores read the sign bit).
__m256i firstLanes(int64_t count) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count < 0 ? 0 : count > 8 ? 8 : count)), lanes);
}

// C (+)= the first ROWS rows of a 6-row panel times B; only rows below m are stored. A short last panel computes
// no more rows than it has, down to 4: two FMA ports with a 4-5 cycle latency want 8 or more accumulators.
// FULL (a whole 6 x 16 tile) reads and writes C with plain moves: on Zen 3 a masked store (vmaskmovps) is a long
// microcoded sequence, and the 12 of a tile took a quarter of a 64-step tile's time (attention's Q Kᵀ: 71 -> 95
// GFLOP/s for the kernel alone with plain stores, 88 -> 98 at 256 steps).
template <int ROWS, bool FULL>
inline void tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, __m256i lo, __m256i hi,
                 const float* bias, bool accumulate) {
  __m256 acc[ROWS][2];
  if (FULL) {
    // C's rows are fetched now and read (accumulate) or written only after the k loop: a C block larger than the
    // caches (a projection's output) had each tile wait on its 6 lines at the end. 1024 x 2304 x 768 at 1 thread:
    // +6-9% (paired runs).
#pragma GCC unroll 6
    for (int i = 0; i < ROWS; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);
    }
  }
  if (accumulate && !FULL) {
#pragma GCC unroll 6
    for (int i = 0; i < ROWS; ++i) {
      const bool row = i < m;
      const __m256i none = _mm256_setzero_si256();
      acc[i][0] = _mm256_maskload_ps(c + (row ? i : 0) * ldc, row ? lo : none);
      acc[i][1] = _mm256_maskload_ps(c + (row ? i : 0) * ldc + 8, row ? hi : none);
    }
  } else {
    const bool zero = !bias || accumulate;  // accumulate here means FULL: C is added after the loop
    const __m256 b0 = zero ? _mm256_setzero_ps() : FULL ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, lo);
    const __m256 b1 = zero ? _mm256_setzero_ps() : FULL ? _mm256_loadu_ps(bias + 8) : _mm256_maskload_ps(bias + 8, hi);
#pragma GCC unroll 6
    for (int i = 0; i < ROWS; ++i) acc[i][0] = b0, acc[i][1] = b1;
  }
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    // B streams from L2, or from memory in a product of few rows (a short sentence: each micro-panel serves two or
    // three calls, and the first waits on DRAM): fetched 32 steps (2 KiB) ahead into L1. At 8 steps, 16 x 1536 x
    // 512 with B out of cache ran at 63 GFLOP/s, at 32 at 67-68; with B in cache, no change.
    _mm_prefetch(reinterpret_cast<const char*>(b + 512), _MM_HINT_T0);
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
    for (int i = 0; i < ROWS; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
    }
    a += MR;  // the packed panel's row count, whatever ROWS computes
    b += 16;
  }
#pragma GCC unroll 6
  for (int i = 0; i < ROWS; ++i) {
    if (FULL) {
      if (accumulate) {
        acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(c + i * ldc));
        acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(c + i * ldc + 8));
      }
      _mm256_storeu_ps(c + i * ldc, acc[i][0]);
      _mm256_storeu_ps(c + i * ldc + 8, acc[i][1]);
    } else if (i < m) {
      _mm256_maskstore_ps(c + i * ldc, lo, acc[i][0]);
      _mm256_maskstore_ps(c + i * ldc + 8, hi, acc[i][1]);
    }
  }
}

// One row (a decode step): four partial sums over k keep eight FMAs in flight where two accumulators would each wait
// out the FMA latency at every step.
inline void row(int64_t kc, const float* a, const float* b, float* c, __m256i lo, __m256i hi, const float* bias,
                bool accumulate) {
  __m256 acc[4][2];
  for (auto& p : acc) p[0] = p[1] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 4 <= kc; k += 4, a += 4 * MR, b += 4 * 16) {
    // The 4 lines of B these 4 steps take, 16 steps ahead (B streams from L3 or memory for a single row); half of
    // them, as before, left 1 x 2304 x 768 5% slower (paired runs).
#pragma GCC unroll 4
    for (int line = 0; line < 4; ++line) _mm_prefetch(reinterpret_cast<const char*>(b + 256 + 16 * line), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      const __m256 ak = _mm256_broadcast_ss(a + u * MR);
      acc[u][0] = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b + u * 16), acc[u][0]);
      acc[u][1] = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b + u * 16 + 8), acc[u][1]);
    }
  }
  for (; k < kc; ++k, a += MR, b += 16) {
    const __m256 ak = _mm256_broadcast_ss(a);
    acc[0][0] = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b), acc[0][0]);
    acc[0][1] = _mm256_fmadd_ps(ak, _mm256_loadu_ps(b + 8), acc[0][1]);
  }
  __m256 r0 = _mm256_add_ps(_mm256_add_ps(acc[0][0], acc[1][0]), _mm256_add_ps(acc[2][0], acc[3][0]));
  __m256 r1 = _mm256_add_ps(_mm256_add_ps(acc[0][1], acc[1][1]), _mm256_add_ps(acc[2][1], acc[3][1]));
  const float* add = accumulate ? c : bias;
  if (add) {
    r0 = _mm256_add_ps(r0, _mm256_maskload_ps(add, lo));
    r1 = _mm256_add_ps(r1, _mm256_maskload_ps(add + 8, hi));
  }
  _mm256_maskstore_ps(c, lo, r0);
  _mm256_maskstore_ps(c + 8, hi, r1);
}

}  // namespace

void sgemm_ukernel_6x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                        const float* bias, bool accumulate) {
  // A whole tile reads no lane mask: the masks are built for edge tiles only (every call of attention's Q Kᵀ, 64
  // steps long, is a whole tile but the last).
  if (m == MR && n == 16) return tile<MR, true>(kc, a, b, c, ldc, m, __m256i{}, __m256i{}, bias, accumulate);
  const __m256i lo = firstLanes(n), hi = firstLanes(n - 8);
  switch (m) {
    case 1: return row(kc, a, b, c, lo, hi, bias, accumulate);
    case 2:
    case 3:
    case 4: return tile<4, false>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
    case 5: return tile<5, false>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
    default: return tile<MR, false>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
  }
}

}  // namespace avx2
}  // namespace fastmha
