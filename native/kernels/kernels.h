// What every instruction-set folder provides. Each kernels/<isa>/ source file is compiled with that ISA's flags
// only; core code reaches the kernels through the dispatch table in core/cpu.h after checking the CPU.
#pragma once

#include <cstdint>

namespace fastmha {

// The GEMM micro-kernel, BLIS style: one MR x NR tile of C over kc steps.
//   a: kc groups of MR floats (rows of A interleaved; zero rows past m), from packA
//   b: kc rows of NR floats (columns past N zero), from PackedMatrix
//   c: row-major with leading dimension ldc; only the m x n corner (m <= MR, n <= NR) is read or written
// C = (accumulate ? C : bias-or-zero broadcast over rows) + a * b. bias (n floats) is read only when !accumulate.
using SgemmUkernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int64_t m, int64_t n,
                              const float* bias, bool accumulate);

// Rows [0, m) and columns [0, kc) of row-major A (leading dimension lda) into the panels the micro-kernel reads:
// MR rows at a time, for each k MR consecutive floats, zero rows past m.
using PackA = void (*)(const float* A, int64_t lda, int64_t m, int64_t kc, float* dst);

// The micro-kernel, its packing and the cache blocking tuned for it: A blocks of MC x KC stay in L2 while B
// micro-panels of KC x NR stream through L1; NC bounds the columns one task sweeps (KC x NC of B in L2).
struct GemmConfig {
  int mr, nr;
  int64_t mc, kc, nc;
  SgemmUkernel ukernel;
  PackA packA;
};

// Qᵀ for one tile of NR queries (NR of this ISA's kernel), the B panel of the micro-kernel in core/attention.cc:
// dst[d * NR + c] = scale * q[c * ldq + d] for d < dk and c < rows (<= NR); zero for c >= rows, so that the padding
// queries' scores are finite. The tile's Oᵀ [dv, NR] goes back to rows of queries through it too, NR dimensions at a
// time (those as its rows, queries as its columns).
using TransposeQueries = void (*)(const float* q, int64_t ldq, int64_t rows, int64_t dk, float scale, float* dst);

// One attention head's values, S rows of dv at leading dimension ld, as Vᵀ [dv, S] in the micro-kernel's A panels
// (the A operand of Oᵀ += Vᵀ Pᵀ in core/attention.cc): panel i holds, for each key s, values i*MR .. i*MR + MR - 1
// of row s, zero past dv. dst: (dv rounded up to MR) x S floats.
using PackValuesT = void (*)(const float* values, int64_t ld, int64_t S, int64_t dv, float* dst);

// Scores reach the softmax in base 2 (the queries are scaled by log2(e) too), so that its exponential is 2^x:
// 2^(x log2 e) = e^x, with no multiply by log2(e) and no two-part range reduction on the dependency chain of every
// score, the chain that bounds the softmax's speed (about 15% faster than e^x, npm run bench:softmax).
constexpr float kLog2e = 1.44269504088896341f;

// One block of the online softmax over transposed scores sᵀ[keys][NR], already scaled, in base 2 (see
// kernels/common/online_softmax.h).
using OnlineSoftmax = void (*)(float* s, int64_t keys, float* m, float* l, float* alpha);

// Attention one query at a time, for short sequences where a tile of NR queries or MR keys would be mostly padding:
// for t < T, out[t] = sum over allowed s of softmax_s(scale * q[t] . k[s]) v[s], rows t of q, k, v and out at
// leading dimensions ldq, ldk, ldv, ldo. allowed: T rows of S bytes (nonzero = may attend), or null for all keys.
// A query with no allowed key gets zeros. probs, when not null, receives the T x S softmax. work:
// attendRowsWorkFloats(S, dk) floats. out may be q itself (ldo = ldq, dv <= dk): rows of q are read before the same
// rows of out are written.
using AttendRows = void (*)(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                            int64_t T, int64_t S, int64_t dk, int64_t dv, float scale, const uint8_t* allowed,
                            float* out, int64_t ldo, float* probs, float* work);
// Keys are handled kAttendLanes at a time: up to that many as the lanes of a vector, one register's lanes where they
// fit in one (kernels/common/attend_rows.h).
constexpr int64_t kAttendLanes = 16;
// Up to kAttendLanes keys: the keys transposed, kAttendLanes by dk; more: one query's scores, S rounded up.
inline int64_t attendRowsWorkFloats(int64_t S, int64_t dk) {
  return S <= kAttendLanes ? kAttendLanes * dk : (S + kAttendLanes - 1) / kAttendLanes * kAttendLanes;
}

}  // namespace fastmha
