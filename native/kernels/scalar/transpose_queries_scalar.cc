// Qᵀ of an attention tile: the portable loop (kernels/common/transpose_queries.h) with this ISA's flags.
#include "../common/transpose_queries.h"
#include "config.h"

namespace fastmha {
namespace scalar {

void transposeQueries(const float* q, int64_t ldq, int64_t rows, int64_t dk, float scale, float* dst) {
  transposeQueriesPortable<kGemm.nr>(q, ldq, rows, dk, scale, dst);
}

}  // namespace scalar
}  // namespace fastmha
