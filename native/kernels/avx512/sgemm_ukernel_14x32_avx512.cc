#include <immintrin.h>

#include "config.h"

namespace fastmha {
namespace avx512 {

namespace {

// The first ROWS rows of a 14-row panel: a short A block (a small batch, the last rows of any) computes only its rows.
template <int ROWS, bool kPrefetchA>
inline void tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, __mmask16 lo,
                 __mmask16 hi, const float* bias, bool accumulate) {
  // C is read only after the k loop: prefetched now, its lines arrive while the FMAs run instead of stalling them.
  if (accumulate) {
#pragma GCC unroll 14
    for (int i = 0; i < ROWS; ++i) {
      if (i < m) {
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
      }
    }
  }
  __m512 acc[ROWS][2];
  const __m512 b0 = !accumulate && bias ? _mm512_maskz_loadu_ps(lo, bias) : _mm512_setzero_ps();
  const __m512 b1 = !accumulate && bias ? _mm512_maskz_loadu_ps(hi, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 14
  for (int i = 0; i < ROWS; ++i) acc[i][0] = b0, acc[i][1] = b1;
#pragma GCC unroll 2
  for (int64_t k = 0; k < kc; ++k) {
    // B streams from L2: fetch it 8 steps (1 KiB) ahead into L1.
    _mm_prefetch(reinterpret_cast<const char*>(b + 256), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(b + 272), _MM_HINT_T0);
    // A panel longer than L1 holds (KC 768: 43 KiB) streams from L2 too; a shorter one is in L1 after the first
    // tile, and the prefetch would only cost an instruction per step.
    if (kPrefetchA) _mm_prefetch(reinterpret_cast<const char*>(a + 14 * 16), _MM_HINT_T0);
    const __m512 v0 = _mm512_loadu_ps(b), v1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 14
    for (int i = 0; i < ROWS; ++i) {
      const __m512 ai = _mm512_set1_ps(a[i]);
      acc[i][0] = _mm512_fmadd_ps(ai, v0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(ai, v1, acc[i][1]);
    }
    a += 14;  // the packed panel's row count, whatever ROWS computes
    b += 32;
  }
#pragma GCC unroll 14
  for (int i = 0; i < ROWS; ++i) {
    if (i < m) {
      float* row = c + i * ldc;
      if (accumulate) {
        acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_maskz_loadu_ps(lo, row));
        acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_maskz_loadu_ps(hi, row + 16));
      }
      _mm512_mask_storeu_ps(row, lo, acc[i][0]);
      _mm512_mask_storeu_ps(row + 16, hi, acc[i][1]);
    }
  }
}

// Panels of more steps than this (14 floats a step) do not fit in a 32 KiB L1 beside the B micro-panel's lines.
constexpr int64_t kStepsInL1 = 512;

template <int ROWS>
inline void tile(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, __mmask16 lo,
                 __mmask16 hi, const float* bias, bool accumulate) {
  if (kc > kStepsInL1) return tile<ROWS, true>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
  tile<ROWS, false>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
}

// One row (a decode step): its two accumulators would each wait out the FMA latency at every k; four partial sums
// over k keep eight FMAs in flight.
inline void row(int64_t kc, const float* a, const float* b, float* c, __mmask16 lo, __mmask16 hi, const float* bias,
                bool accumulate) {
  __m512 acc[4][2];
  for (auto& p : acc) p[0] = p[1] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 4 <= kc; k += 4, a += 4 * 14, b += 4 * 32) {
    // The 8 lines of B these 4 steps take, 16 steps ahead: a row's product streams B from L3 or memory (each weight
    // is read once), and prefetching half of them, as before, left 1 x 2304 x 768 6% slower (paired runs).
#pragma GCC unroll 8
    for (int line = 0; line < 8; ++line) _mm_prefetch(reinterpret_cast<const char*>(b + 512 + 16 * line), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      const __m512 ak = _mm512_set1_ps(a[u * 14]);
      acc[u][0] = _mm512_fmadd_ps(ak, _mm512_loadu_ps(b + u * 32), acc[u][0]);
      acc[u][1] = _mm512_fmadd_ps(ak, _mm512_loadu_ps(b + u * 32 + 16), acc[u][1]);
    }
  }
  for (; k < kc; ++k, a += 14, b += 32) {
    const __m512 ak = _mm512_set1_ps(a[0]);
    acc[0][0] = _mm512_fmadd_ps(ak, _mm512_loadu_ps(b), acc[0][0]);
    acc[0][1] = _mm512_fmadd_ps(ak, _mm512_loadu_ps(b + 16), acc[0][1]);
  }
  __m512 r0 = _mm512_add_ps(_mm512_add_ps(acc[0][0], acc[1][0]), _mm512_add_ps(acc[2][0], acc[3][0]));
  __m512 r1 = _mm512_add_ps(_mm512_add_ps(acc[0][1], acc[1][1]), _mm512_add_ps(acc[2][1], acc[3][1]));
  if (accumulate) {
    r0 = _mm512_add_ps(r0, _mm512_maskz_loadu_ps(lo, c));
    r1 = _mm512_add_ps(r1, _mm512_maskz_loadu_ps(hi, c + 16));
  } else if (bias) {
    r0 = _mm512_add_ps(r0, _mm512_maskz_loadu_ps(lo, bias));
    r1 = _mm512_add_ps(r1, _mm512_maskz_loadu_ps(hi, bias + 16));
  }
  _mm512_mask_storeu_ps(c, lo, r0);
  _mm512_mask_storeu_ps(c + 16, hi, r1);
}

}  // namespace

void sgemm_ukernel_14x32(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                         const float* bias, bool accumulate) {
  const __mmask16 lo = n >= 16 ? 0xffff : static_cast<__mmask16>((1u << n) - 1);
  const __mmask16 hi = n >= 32 ? 0xffff : n <= 16 ? 0 : static_cast<__mmask16>((1u << (n - 16)) - 1);
  // Exactly the rows there are from 4 up: a 9-row product (a short sequence's keys) on the 14-row tile would spend
  // a third of its FMAs on padding. Below 4 rows, 8 accumulators still hide the FMA latency; fewer would not.
  switch (m) {
    case 14: return tile<14>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
    case 13: return tile<13>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
    case 12: return tile<12>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
    case 11: return tile<11>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
    case 10: return tile<10>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
    case 9: return tile<9>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
    case 8: return tile<8>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
    case 7: return tile<7>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
    case 6: return tile<6>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
    case 5: return tile<5>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
    case 1: return row(kc, a, b, c, lo, hi, bias, accumulate);
    default: return tile<4>(kc, a, b, c, ldc, m, lo, hi, bias, accumulate);
  }
}

}  // namespace avx512
}  // namespace fastmha
