// The shared online softmax (kernels/common/online_softmax.h), vectorized by the compiler for this ISA.
#include "../common/online_softmax.h"
#include "config.h"

namespace fastmha {
namespace avx512 {

void onlineSoftmax(float* s, int64_t keys, float scale, float* m, float* l, float* alpha) {
  onlineSoftmaxImpl<kGemm.nr>(s, keys, scale, m, l, alpha);
}

}  // namespace avx512
}  // namespace fastmha
