// Matrix products of the layer: activations [M, K] times a weight matrix [K, N] prepared once when weights
// are set, with the bias added in the same pass.
#pragma once

#include <cstdint>
#include <vector>

#include "thread_pool.h"

namespace fastmha {

// A weight matrix in the layout the kernels read, prepared once (weights are constant in inference).
class PackedMatrix {
 public:
  PackedMatrix() = default;
  PackedMatrix(const float* rowMajor, int64_t rows, int64_t cols);
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  const float* data() const { return data_.data(); }
  size_t bytes() const { return data_.size() * sizeof(float); }
  // Back to row-major [rows, cols], for getWeights.
  void unpack(float* rowMajor) const;

 private:
  std::vector<float> data_;
  int64_t rows_ = 0, cols_ = 0;
};

// C[M, N] = A[M, K] * B[K, N] + bias[N] (bias may be null); rows of C are split over the pool.
void gemm(int64_t M, const float* A, int64_t lda, const PackedMatrix& B, const float* bias, float* C, int64_t ldc,
          ThreadPool& pool, int maxThreads);

}  // namespace fastmha
