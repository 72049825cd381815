// The shared softmax kernels (kernels/common/online_softmax.h, attend_rows.h), vectorized by the compiler for
// this ISA.
#include "../common/attend_rows.h"
#include "../common/online_softmax.h"
#include "config.h"

namespace fastmha {
namespace scalar {
#include "../common/attend_rows_entry.inc"
#include "../common/online_softmax_entry.inc"
}  // namespace scalar
}  // namespace fastmha
