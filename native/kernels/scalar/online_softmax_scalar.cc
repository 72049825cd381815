// The shared online softmax (kernels/common/online_softmax.h), vectorized by the compiler for this ISA.
#include "../common/online_softmax.h"
#include "config.h"

namespace fastmha {
namespace scalar {

void onlineSoftmax(float* s, int64_t lds, int64_t rows, int64_t cols, float scale, float* m, float* l, float* alpha) {
  detail::onlineSoftmaxImpl(s, lds, rows, cols, scale, m, l, alpha);
}

}  // namespace scalar
}  // namespace fastmha
