#include "gemm.h"

#include "scratch.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

namespace fastmha {

void AlignedFree::operator()(float* p) const { std::free(p); }

AlignedFloats allocateFloats(size_t count) {
  const size_t bytes = ((std::max<size_t>(count, 1) * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return AlignedFloats(static_cast<float*>(p));
}

PackedMatrix::PackedMatrix(const float* src, int64_t rows, int64_t cols, int64_t ld, const Kernels& kernels)
    : rows_(rows), cols_(cols), kernels_(&kernels) {
  const int64_t nr = kernels.gemm.nr, kc = kernels.gemm.kc;
  paddedCols_ = (cols + nr - 1) / nr * nr;
  size_ = static_cast<size_t>(rows * paddedCols_);
  data_ = allocateFloats(size_);
  for (int64_t pc = 0; pc < rows; pc += kc) {
    const int64_t kLen = std::min(kc, rows - pc);
    for (int64_t jr = 0; jr < cols; jr += nr) {
      float* dst = const_cast<float*>(panel(pc, jr));
      const int64_t n = std::min(nr, cols - jr);
      for (int64_t k = 0; k < kLen; ++k, dst += nr) {
        std::memcpy(dst, src + (pc + k) * ld + jr, n * sizeof(float));
        std::fill(dst + n, dst + nr, 0.0f);
      }
    }
  }
}

PackedMatrix PackedMatrix::concat(const PackedMatrix* parts[], int count) {
  int64_t cols = 0;
  for (int i = 0; i < count; ++i) cols += parts[i]->cols();
  const int64_t rows = parts[0]->rows();
  std::vector<float> rowMajor(static_cast<size_t>(rows * cols)), part;
  int64_t offset = 0;
  for (int i = 0; i < count; ++i) {
    const int64_t c = parts[i]->cols();
    part.resize(static_cast<size_t>(rows * c));
    parts[i]->unpack(part.data());
    for (int64_t r = 0; r < rows; ++r) std::memcpy(&rowMajor[r * cols + offset], &part[r * c], c * sizeof(float));
    offset += c;
  }
  return PackedMatrix(rowMajor.data(), rows, cols, cols, parts[0]->kernels());
}

const float* PackedMatrix::panel(int64_t pc, int64_t jr) const {
  const int64_t kLen = std::min(kernels_->gemm.kc, rows_ - pc);
  return data_.get() + pc * paddedCols_ + jr * kLen;
}

void PackedMatrix::unpack(float* dst) const {
  const int64_t nr = kernels_->gemm.nr, kc = kernels_->gemm.kc;
  for (int64_t pc = 0; pc < rows_; pc += kc) {
    const int64_t kLen = std::min(kc, rows_ - pc);
    for (int64_t jr = 0; jr < cols_; jr += nr) {
      const float* src = panel(pc, jr);
      const int64_t n = std::min(nr, cols_ - jr);
      for (int64_t k = 0; k < kLen; ++k) std::memcpy(dst + (pc + k) * cols_ + jr, src + k * nr, n * sizeof(float));
    }
  }
}

void gemm(int64_t M, const float* A, int64_t lda, const PackedMatrix& B, const float* bias, float* C, int64_t ldc,
          ThreadPool& pool, int maxThreads, const std::atomic<bool>* cancelled) {
  gemm(M, A, lda, B, bias, GemmOutput{C, ldc, B.cols()}, pool, maxThreads, cancelled);
}

namespace {
// Numbers the products, so that a thread knows when the A block it packed last is the one its next task needs.
std::atomic<uint64_t> products{0};
}  // namespace

void gemm(int64_t M, const float* A, int64_t lda, const PackedMatrix& B, const float* bias, const GemmOutput& out,
          ThreadPool& pool, int maxThreads, const std::atomic<bool>* cancelled) {
  const GemmConfig& cfg = B.kernels().gemm;
  const int64_t N = B.cols(), K = B.rows();
  const int64_t mr = cfg.mr, nr = cfg.nr;
  if (M <= 0 || N <= 0) return;
  // The first row of columns [jr, jr + NR) of C, and the distance between its rows.
  auto columns = [&](int64_t jr, int64_t* ldc) {
    if (jr < out.split) {
      *ldc = out.ld;
      return out.data + jr;
    }
    const int64_t j = jr - out.split;
    *ldc = out.group;
    return out.groups + j / out.group * M * out.group + j % out.group;
  };

  // Tasks are blocks of columns by rows. Inside one, BLIS's loop nest: for each KC slice of K, each MC-row block of
  // A is packed (it stays in L1 and L2) and swept against the task's KC x width block of B, whose micro-panels
  // stream in with a prefetch. A task's width is at most NC. With several threads, rows are split first (packing A
  // writes, so a column split that re-packs the same rows costs more than the re-reads of B a row split causes),
  // then columns, until each thread has a few tasks to balance. Splits are even to a panel (MR rows, NR columns):
  // in whole MC blocks, 1024 rows made five tasks of 196 rows and one of 44, and one of two threads did 15% more.
  // Waking another thread costs about as much as a few million flops: small products stay on this one. A product is
  // also counted by B's bytes, which decides for one row (a token): it streams a weight matrix of megabytes, from
  // memory in a model of many layers, and two threads fetch it faster than one (a stack of 12 layers of one token, 2
  // threads: E512 0.76-0.78x the time, E768 0.91x; one layer whose weights stay in cache, forwardSync 1.1x).
  constexpr int64_t kFlopsPerThread = int64_t{1} << 20, kWeightBytesPerThread = int64_t{1} << 20;
  const int64_t flops = 2 * M * N * K;
  const int64_t work = std::max(flops / kFlopsPerThread, K * N * int64_t{sizeof(float)} / kWeightBytesPerThread);
  const int threads = static_cast<int>(std::clamp<int64_t>(work, 1, std::min(maxThreads, pool.threads())));
  const int64_t target = threads == 1 ? 1 : 3 * threads;
  const int64_t rowPanels = (M + mr - 1) / mr, colPanels = (N + nr - 1) / nr;
  const int64_t mTasks = std::min((M + cfg.mc - 1) / cfg.mc, target);
  const int64_t nTasks = std::min(colPanels, std::max((N + cfg.nc - 1) / cfg.nc, (target + mTasks - 1) / mTasks));
  // Task i of `tasks` over `panels` panels of `size` starts at this row or column (the end for i == tasks).
  auto start = [](int64_t i, int64_t tasks, int64_t panels, int64_t size, int64_t end) {
    return std::min(end, i * panels / tasks * size);
  };

  // A few rows (one row task) are split in column tasks only: a thread that takes several of them packs the rows once,
  // not once per task (12 rows of 512 are 2 us to pack, a third of a task's work at 2 threads).
  const uint64_t product = products.fetch_add(1, std::memory_order_relaxed) + 1;
  pool.parallelFor(nTasks * mTasks, 1, threads, [&](int64_t begin, int64_t end) {
    thread_local Scratch aBlock;  // each pool thread keeps its A block buffer between calls
    thread_local struct {
      uint64_t product = 0;
      int64_t ic = 0, pc = 0;
    } packedBlock;  // which A block aBlock holds
    float* packed = aBlock.reserve(static_cast<size_t>(((cfg.mc + mr - 1) / mr) * mr * cfg.kc));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t jTask = task % nTasks, iTask = task / nTasks;
      const int64_t jBegin = start(jTask, nTasks, colPanels, nr, N), jEnd = start(jTask + 1, nTasks, colPanels, nr, N);
      const int64_t iBegin = start(iTask, mTasks, rowPanels, mr, M), iEnd = start(iTask + 1, mTasks, rowPanels, mr, M);
      for (int64_t pc = 0; pc < K; pc += cfg.kc) {
        const int64_t kLen = std::min(cfg.kc, K - pc);
        for (int64_t ic = iBegin; ic < iEnd; ic += cfg.mc) {
          const int64_t mLen = std::min(cfg.mc, iEnd - ic);
          if (isCancelled(cancelled)) return;
          yieldToWaiting();
          if (packedBlock.product != product || packedBlock.ic != ic || packedBlock.pc != pc) {
            cfg.packA(A + ic * lda + pc, lda, mLen, kLen, packed);
            packedBlock = {product, ic, pc};
          }
          for (int64_t jr = jBegin; jr < jEnd; jr += nr) {
            const float* b = B.panel(pc, jr);
            const int64_t n = std::min(nr, N - jr);
            int64_t ldc;
            float* C = columns(jr, &ldc);
            for (int64_t ir = 0; ir < mLen; ir += mr) {
              cfg.ukernel(kLen, packed + ir * kLen, b, C + (ic + ir) * ldc, ldc, std::min(mr, mLen - ir), n,
                          bias ? bias + jr : nullptr, pc > 0);
            }
          }
        }
      }
    }
  });
}

}  // namespace fastmha
