// Portable kernels: always built, baseline flags; FASTMHA_ISA=scalar selects them, tests compare the others to them.
#pragma once

#include "../kernels.h"

namespace fastmha {
namespace scalar {

void sgemm_ukernel_4x16(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                        const float* bias, bool accumulate);

void onlineSoftmax(float* s, int64_t keys, float scale, float* m, float* l, float* alpha);

constexpr GemmConfig kGemm{4, 16, 64, 256, 512, sgemm_ukernel_4x16};

}  // namespace scalar
}  // namespace fastmha
