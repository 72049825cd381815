// Matrix products of the layer, BLIS style: activations A [M, K] (packed per call into MR-row panels) times a
// weight matrix B [K, N] packed once into KC x NR micro-panels, the bias added in the micro-kernel's write-back.
// The attention core reuses the packing and the micro-kernels for Q Kᵀ and P V.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "cpu.h"
#include "thread_pool.h"

namespace fastmha {

// 64-byte aligned floats: whole cache lines, and aligned vector loads for every ISA.
struct AlignedFree {
  void operator()(float* p) const;
};
using AlignedFloats = std::unique_ptr<float[], AlignedFree>;
AlignedFloats allocateFloats(size_t count);  // throws std::bad_alloc

// B [rows = K, cols = N] in the layout the chosen micro-kernel reads: for each KC block of rows, the NR-column
// panels one after another, each kc x NR with zero columns past N. Prepared once (weights are constant).
class PackedMatrix {
 public:
  PackedMatrix() = default;
  // src is row-major [rows, cols] with leading dimension ld.
  PackedMatrix(const float* src, int64_t rows, int64_t cols, int64_t ld, const Kernels& kernels);
  // Several weight matrices of equal row count side by side, as one [rows, sum of cols] operand (the fused
  // query|key|value projection of self-attention).
  static PackedMatrix concat(const PackedMatrix* parts[], int count);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  const Kernels& kernels() const { return *kernels_; }
  size_t bytes() const { return size_ * sizeof(float); }
  // The kc x NR panel holding rows [pc, pc + kc) and columns [jr, jr + NR); pc a multiple of the row block.
  const float* panel(int64_t pc, int64_t jr) const;
  // Back to row-major [rows, cols], for getWeights.
  void unpack(float* rowMajor) const;

 private:
  AlignedFloats data_;
  size_t size_ = 0;
  int64_t rows_ = 0, cols_ = 0, paddedCols_ = 0;
  const Kernels* kernels_ = nullptr;
};

// Where the columns of C go. Columns [0, split) are row-major at `data` with leading dimension ld; columns
// [split, N), when split < N, in blocks of `group` columns, each block a row-major [M, group] matrix of its own,
// one after another from `groups`: an attention head's keys, all its rows contiguous. split and group are
// multiples of the micro-kernel's NR, so that no tile straddles two blocks.
struct GemmOutput {
  float* data = nullptr;
  int64_t ld = 0, split = 0;
  float* groups = nullptr;
  int64_t group = 0;
};

// C[M, N] = A[M, K] * B + bias[N] (bias may be null), row-major with leading dimensions; tasks of MC rows by
// a share of the columns go to the pool. Once `cancelled` is set (by another thread), no further block of MC rows
// is computed and C is left incomplete.
void gemm(int64_t M, const float* A, int64_t lda, const PackedMatrix& B, const float* bias, float* C, int64_t ldc,
          ThreadPool& pool, int maxThreads, const std::atomic<bool>* cancelled = nullptr);
// The same product, C laid out as `out` says.
void gemm(int64_t M, const float* A, int64_t lda, const PackedMatrix& B, const float* bias, const GemmOutput& out,
          ThreadPool& pool, int maxThreads, const std::atomic<bool>* cancelled = nullptr);

}  // namespace fastmha
