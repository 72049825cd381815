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
  std::vector<float> scores(keys * nr), s(keys * nr), m(nr), l(nr), alpha(nr);
  for (float& x : scores) x = u(rng);
  for (int64_t k = 0; k < keys; k += 17) scores[k * nr + k % nr] = -INFINITY;
  constexpr int kBlocks = 200;
  std::vector<double> runs;
  for (int round = 0; round < 31; ++round) {
    const auto t0 = Clock::now();
    for (int i = 0; i < kBlocks; ++i) {
      // In place, as in the attention core; the copy back is timed too but is a small part (one pass, in L1/L2).
      std::memcpy(s.data(), scores.data(), s.size() * sizeof(float));
      std::fill(m.begin(), m.end(), -INFINITY);
      std::fill(l.begin(), l.end(), 0.0f);
      isa.onlineSoftmax(s.data(), keys, m.data(), l.data(), alpha.data());
    }
    runs.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / (kBlocks * keys * nr));
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
