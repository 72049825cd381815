// The online softmax kernel of each instruction set this CPU runs, on one block of transposed scores as the
// attention core hands it over (256 keys x NR queries, scores scaled and in base 2, a few masked). Medians.
// Prints one JSON line per ISA (--json) or a table: ns per score, and the speed relative to the scalar path. The
// exponential dominates: a kernel that stops vectorizing (a branch the compiler cannot turn into a select) shows
// here as a ratio near 1 instead of several times.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../native/core/cpu.h"

using namespace fastmha;
using Clock = std::chrono::steady_clock;

namespace {

double nsPerScore(const Kernels& isa) {
  const int nr = isa.gemm.nr;
  const int64_t keys = 256;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-12.0f, 4.0f);
  std::vector<float> scores(keys * nr), alpha(nr);
  for (float& x : scores) x = u(rng);
  for (int64_t k = 0; k < keys; k += 17) scores[k * nr + k % nr] = -INFINITY;
  // The kernel works in place: each timed call gets its own fresh copy of the block, made before the clock starts
  // (copying inside the timed loop was more than half of the time measured on a Zen 3 VM). 16 blocks: 256 KiB for
  // 16 queries, in L2 as the attention core's blocks are.
  constexpr int kBlocks = 16, kRepeats = 12;
  std::vector<float> blocks(kBlocks * scores.size()), ms(kBlocks * nr), ls(kBlocks * nr);
  std::vector<double> runs;
  for (int round = 0; round < 31; ++round) {
    double ns = 0;
    for (int repeat = 0; repeat < kRepeats; ++repeat) {
      for (int i = 0; i < kBlocks; ++i) std::copy(scores.begin(), scores.end(), blocks.begin() + i * scores.size());
      std::fill(ms.begin(), ms.end(), -INFINITY);
      std::fill(ls.begin(), ls.end(), 0.0f);
      const auto t0 = Clock::now();
      for (int i = 0; i < kBlocks; ++i) {
        isa.onlineSoftmax(&blocks[i * scores.size()], keys, &ms[i * nr], &ls[i * nr], alpha.data());
      }
      ns += std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    }
    runs.push_back(ns / (kRepeats * kBlocks * keys * nr));
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const bool json = argc > 1 && std::strcmp(argv[1], "--json") == 0;
  const Kernels* scalar = kernelsFor("scalar");
  const double base = scalar ? nsPerScore(*scalar) : 0;
  if (!json) std::printf("online softmax, one block of 256 keys; medians\n\n   isa   nr | ns/score  vs scalar\n");
  for (const char* name : {"scalar", "avx2", "avx512", "neon"}) {
    const Kernels* isa = kernelsFor(name);
    if (!isa) continue;
    const double ns = std::string(name) == "scalar" ? base : nsPerScore(*isa);
    if (json) {
      std::printf("{\"isa\":\"%s\",\"keys\":256,\"nr\":%d,\"ns_per_score\":%.4f,\"vs_scalar\":%.2f}\n", name,
                  isa->gemm.nr, ns, base / ns);
    } else {
      std::printf("%6s %4d | %8.3f  %8.2fx\n", name, isa->gemm.nr, ns, base / ns);
    }
  }
}
