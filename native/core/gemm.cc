#include "gemm.h"

#include <algorithm>
#include <cstring>

#include "cpu.h"

namespace fastmha {

PackedMatrix::PackedMatrix(const float* rowMajor, int64_t rows, int64_t cols)
    : data_(rowMajor, rowMajor + rows * cols), rows_(rows), cols_(cols) {}

void PackedMatrix::unpack(float* rowMajor) const { std::memcpy(rowMajor, data_.data(), bytes()); }

void gemm(int64_t M, const float* A, int64_t lda, const PackedMatrix& B, const float* bias, float* C, int64_t ldc,
          ThreadPool& pool, int maxThreads) {
  const SgemmFn kernel = kernels().sgemm;
  const int64_t N = B.cols(), K = B.rows();
  // Enough rows per chunk that a chunk costs ~1M flops, so scheduling is noise next to it.
  const int64_t grain = std::max<int64_t>(1, (1 << 20) / std::max<int64_t>(1, N * K));
  pool.parallelFor(M, grain, maxThreads, [&](int64_t begin, int64_t end) {
    kernel(end - begin, N, K, A + begin * lda, lda, B.data(), N, C + begin * ldc, ldc, bias);
  });
}

}  // namespace fastmha
