// The shared softmax kernels (kernels/common/online_softmax.h, attend_rows.h), vectorized by the compiler for
// this ISA.
#include "../common/attend_rows.h"
#include "../common/online_softmax.h"
#include "config.h"

namespace fastmha {
namespace neon {

void onlineSoftmax(float* s, int64_t keys, float scale, float* m, float* l, float* alpha) {
  onlineSoftmaxImpl<kGemm.nr>(s, keys, scale, m, l, alpha);
}

void attendRows(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv, int64_t T,
                int64_t S, int64_t dk, int64_t dv, float scale, const uint8_t* allowed, float* out, int64_t ldo,
                float* probs, float* work) {
  attendRowsImpl(q, ldq, k, ldk, v, ldv, T, S, dk, dv, scale, allowed, out, ldo, probs, work);
}

}  // namespace neon
}  // namespace fastmha
