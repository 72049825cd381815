// Packing A for the 4x16 kernel: the portable loop (kernels/common/pack_a.h) compiled with this ISA's flags.
#include "../common/pack_a.h"
#include "config.h"

namespace fastmha {
namespace scalar {
void packA(const float* A, int64_t lda, int64_t m, int64_t kc, float* dst) {
  packAPortable<kGemm.mr>(A, lda, m, kc, dst);
}
}  // namespace scalar
}  // namespace fastmha
