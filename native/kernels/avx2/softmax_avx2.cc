// The shared query-by-query attention (kernels/common/attend_rows.h), vectorized by the compiler for this ISA. The
// online softmax of the tiled path is written with intrinsics instead (online_softmax_avx2.cc).
#include "../common/attend_rows.h"
#include "config.h"

namespace fastmha {
namespace avx2 {
#include "../common/attend_rows_entry.inc"
}  // namespace avx2
}  // namespace fastmha
