// GEMM benchmark of native/core alone: C[M, N] = A[M, K] * B[K, N], row-major, B packed once (it is a weight
// matrix in the layer). Side by side with OpenBLAS's cblas_sgemm when built with it, runs alternated, medians.
// Prints one JSON line per case (--json) or a table with the fraction of the FMA peak measured here.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../native/core/cpu.h"
#include "../native/core/gemm.h"
#include "../native/core/thread_pool.h"
#include "common.h"
#include "fma_peak.h"

#ifdef FASTMHA_HAVE_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
#endif

using namespace fastmha;
using fastmha_bench::median;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// FMA peak of `threads` cores together, in GFLOP/s, with the widest FMA this CPU has.
double fmaPeak(int threads) {
  const std::string isa = kernels().isa;
  auto burst = [&](int64_t n) {
    return isa == "avx512" ? fastmha_bench::fmaBurstAvx512(n) : isa == "avx2" ? fastmha_bench::fmaBurstAvx2(n) : 0.0;
  };
  if (burst(1) == 0) return 0;
  std::vector<double> rates;
  for (int round = 0; round < 5; ++round) {
    const int64_t n = 20'000'000;
    std::vector<std::thread> workers;
    std::vector<double> flops(threads);
    const auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t) workers.emplace_back([&, t] { flops[t] = burst(n); });
    for (auto& w : workers) w.join();
    const double s = seconds(t0, Clock::now());
    double total = 0;
    for (double f : flops) total += f;
    rates.push_back(total / s / 1e9);
  }
  return *std::max_element(rates.begin(), rates.end());
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false, peakOnly = false;
  std::vector<int> threadCounts = {1, 2};
  std::vector<std::array<int64_t, 3>> shapes = {
      {320, 512, 512}, {1024, 768, 768}, {2048, 512, 512}, {2048, 2048, 2048}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "--peak-only") {
      peakOnly = true;
    } else if (arg == "--threads" && i + 1 < argc) {
      threadCounts.clear();
      for (const std::string& t : fastmha_bench::splitList(argv[++i])) threadCounts.push_back(std::atoi(t.c_str()));
    } else if (arg == "--shape" && i + 1 < argc) {
      int64_t m, n, k;
      if (std::sscanf(argv[++i], "%ldx%ldx%ld", &m, &n, &k) == 3) {
        if (shapes.size() == 4 && shapes[0][0] == 320) shapes.clear();
        shapes.push_back({m, n, k});
      }
    }
  }

  if (peakOnly) {  // for the layer benchmark: {"threads":N,"peak_gflops":X} per thread count
    for (int threads : threadCounts) std::printf("{\"threads\":%d,\"peak_gflops\":%.1f}\n", threads, fmaPeak(threads));
    return 0;
  }
  ThreadPool& pool = globalPool();
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  if (!json) {
    std::printf("fastmha GEMM (%s kernels, B prepacked) vs OpenBLAS cblas_sgemm; medians of alternated runs\n\n",
                kernels().isa);
    std::printf("%6s %6s %6s %3s | %9s %7s | %9s %7s\n", "M", "N", "K", "thr", "GFLOP/s", "of peak", "OpenBLAS",
                "ratio");
  }
  for (int threads : threadCounts) {
    pool.resize(threads);
    // The peak is measured before the products and again after, and the higher kept: on a shared host a second core
    // can be taken from us for a second or more, and a peak measured then (once 102 GFLOP/s for 2 cores of 100)
    // printed products at 147% of it.
    double peak = fmaPeak(threads);
#ifdef FASTMHA_HAVE_OPENBLAS
    openblas_set_num_threads(threads);
#endif
    struct Row {
      int64_t M, N, K;
      double ours, blas;  // GFLOP/s; blas 0 without OpenBLAS
    };
    std::vector<Row> rows;
    for (auto [M, N, K] : shapes) {
      std::vector<float> A(M * K), B(K * N), C(M * N), C2(M * N);
      for (auto& x : A) x = u(rng);
      for (auto& x : B) x = u(rng);
      PackedMatrix packed(B.data(), K, N, N, kernels());
      const double flops = 2.0 * M * N * K;
      // Enough repeats for ~0.4 s per side at 100 GFLOP/s, at least 5.
      const int repeats = std::max<int>(5, static_cast<int>(4e10 / flops));
      std::vector<double> ours, blas;
      for (int r = -1; r < repeats; ++r) {
        auto t0 = Clock::now();
        gemm(M, A.data(), K, packed, nullptr, C.data(), N, pool, threads);
        auto t1 = Clock::now();
        if (r >= 0) ours.push_back(seconds(t0, t1));
#ifdef FASTMHA_HAVE_OPENBLAS
        t0 = Clock::now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C2.data(),
                    N);
        t1 = Clock::now();
        if (r >= 0) blas.push_back(seconds(t0, t1));
#endif
      }
      rows.push_back({M, N, K, flops / median(ours) / 1e9, blas.empty() ? 0 : flops / median(blas) / 1e9});
    }
    peak = std::max(peak, fmaPeak(threads));
    for (const Row& r : rows) {
      if (json) {
        std::printf(
            "{\"M\":%ld,\"N\":%ld,\"K\":%ld,\"threads\":%d,\"gflops\":%.2f,\"isa\":\"%s\",\"peak_gflops\":%.1f,"
            "\"fraction_of_peak\":%.3f",
            r.M, r.N, r.K, threads, r.ours, kernels().isa, peak, peak > 0 ? r.ours / peak : 0.0);
        if (r.blas > 0) std::printf(",\"openblas_gflops\":%.2f,\"ratio_to_openblas\":%.3f", r.blas, r.ours / r.blas);
        std::printf("}\n");
      } else {
        std::printf("%6ld %6ld %6ld %3d | %9.1f %6.1f%% | %9.1f %6.2fx\n", r.M, r.N, r.K, threads, r.ours,
                    peak > 0 ? 100 * r.ours / peak : 0.0, r.blas, r.blas > 0 ? r.ours / r.blas : 0.0);
      }
    }
    if (!json) std::printf("       FMA peak measured at %d thread(s): %.1f GFLOP/s\n", threads, peak);
    std::fflush(stdout);
  }
  return 0;
}
