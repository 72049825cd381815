// One step of the online (streaming) softmax over a block of keys, written once in plain C++ and compiled in each
// kernels/<isa>/ folder with that ISA's flags, where the compiler vectorizes it (the exp is a branch-free
// polynomial). Included only by those files.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace fastmha {
namespace detail {

// e^x for x <= 0 (scores minus their running maximum), within ~2 ulp: x = n ln2 + r with |r| <= ln2/2 (ln2 split
// in two parts, Cody and Waite), e^r by a degree-6 minimax polynomial, 2^n assembled in the exponent bits.
inline float expNonPositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
  const float n = (x * 1.44269504088896341f + magic) - magic;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// For each of `rows` rows of s (stride lds, `cols` scores; -inf = masked): x = s * scale, the running maximum
// m[r] and sum l[r] updated, s overwritten with exp(x - m_new) (0 where masked), and alpha[r] = exp(m_old - m_new),
// the factor the caller applies to what it accumulated before. A row with nothing allowed so far keeps m = -inf,
// alpha = 1 and zeros.
inline void onlineSoftmaxImpl(float* s, int64_t lds, int64_t rows, int64_t cols, float scale, float* m, float* l,
                              float* alpha) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    float* row = s + r * lds;
    float blockMax = kNegInf;
    // Reductions vectorize only when told their order may change (-fopenmp-simd, no OpenMP runtime).
#pragma omp simd reduction(max : blockMax)
    for (int64_t j = 0; j < cols; ++j) {
      row[j] *= scale;
      blockMax = row[j] > blockMax ? row[j] : blockMax;
    }
    const float mOld = m[r];
    const float mNew = blockMax > mOld ? blockMax : mOld;
    if (mNew == kNegInf) {
      for (int64_t j = 0; j < cols; ++j) row[j] = 0.0f;
      alpha[r] = 1.0f;
      continue;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < cols; ++j) {
      const float x = row[j];
      const float p = x == kNegInf ? 0.0f : expNonPositive(x - mNew);
      row[j] = p;
      sum += p;
    }
    alpha[r] = mOld == kNegInf ? 0.0f : expNonPositive(mOld - mNew);
    l[r] = l[r] * alpha[r] + sum;
    m[r] = mNew;
  }
}

}  // namespace detail
}  // namespace fastmha
