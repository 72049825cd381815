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

// The micro-kernel and the cache blocking tuned for it: A blocks of MC x KC stay in L2 while B micro-panels
// of KC x NR stream through L1; NC bounds the columns one task sweeps (KC x NC of B in L2).
struct GemmConfig {
  int mr, nr;
  int64_t mc, kc, nc;
  SgemmUkernel ukernel;
};

// One block of the online softmax over transposed scores sᵀ[keys][NR] (see kernels/common/online_softmax.h).
using OnlineSoftmax = void (*)(float* s, int64_t keys, float scale, float* m, float* l, float* alpha);

}  // namespace fastmha
