// Packing an attention head's values at this ISA's MR: the portable loop (kernels/common/pack_values.h) compiled
// with this folder's flags.
#include "../common/pack_values.h"
#include "config.h"

namespace fastmha {
namespace neon {
void packValuesT(const float* values, int64_t ld, int64_t S, int64_t dv, float* dst) {
  packValuesTPortable<kGemm.mr>(values, ld, S, dv, dst);
}
}  // namespace neon
}  // namespace fastmha
