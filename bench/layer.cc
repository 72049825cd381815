// The whole layer of native/core alone (projections and attention), over thread counts: how it scales past the two
// cores of a development machine, where no Node.js is at hand. `npm run bench` compares the same layer with
// onnxruntime-node; this one compares it with itself at 1 thread. Medians; one JSON line per case (--json) or a table.
//   bench_layer [--json] [--threads 1,2,4,8,16] [--shapes paper,bert,long,cross] [--seconds 1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../native/core/cpu.h"
#include "../native/core/mha.h"
#include "../native/core/thread_pool.h"
#include "common.h"

using namespace fastmha;
using fastmha_bench::median;
using fastmha_bench::splitList;
using Clock = std::chrono::steady_clock;

namespace {

struct Shape {
  int64_t B, T, S, E, H;
};

// The shapes of `npm run bench`; S is the memory's length (cross-attention) or T (self-attention).
const std::map<std::string, Shape> kShapes = {
    {"paper", {64, 5, 5, 512, 8}},
    {"bert", {8, 128, 128, 768, 12}},
    {"long", {1, 2048, 2048, 512, 8}},
    {"cross", {1, 12, 9, 512, 8}},
};

// Median milliseconds of one forward, repeated for about `seconds` after a warm-up.
double timeForward(const Layer& layer, const ForwardArgs& args, ThreadPool& pool, int threads, double seconds) {
  for (int i = 0; i < 3; ++i) layer.forward(args, pool, threads);
  std::vector<double> ms;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (ms.size() < 5 || (Clock::now() < end && ms.size() < 100000)) {
    const auto t0 = Clock::now();
    layer.forward(args, pool, threads);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return median(ms);
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  std::vector<std::string> threadList = {"1", "2"}, shapeNames = {"paper", "bert", "long", "cross"};
  double seconds = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") json = true;
    else if (arg == "--threads" && i + 1 < argc) threadList = splitList(argv[++i]);
    else if (arg == "--shapes" && i + 1 < argc) shapeNames = splitList(argv[++i]);
    else if (arg == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
  }
  ThreadPool& pool = globalPool();
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  auto random = [&](int64_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
  };
  if (!json) {
    std::printf("fastmha layer (%s kernels), projections included; medians\n\n", kernels().isa);
    std::printf("%-6s %3s | %10s %8s | %8s\n", "shape", "thr", "ms", "GFLOP/s", "vs 1 thr");
  }
  for (const std::string& name : shapeNames) {
    const auto found = kShapes.find(name);
    if (found == kShapes.end()) {
      std::fprintf(stderr, "unknown shape %s\n", name.c_str());
      return 2;
    }
    const auto [B, T, S, E, H] = found->second;
    LayerDims dims;
    dims.numHeads = H;
    dims.keyDim = dims.valueDim = E / H;
    dims.queryDim = dims.keyInputDim = dims.valueInputDim = dims.outputDim = E;
    const auto wq = random(E * E), wk = random(E * E), wv = random(E * E), wo = random(E * E), bias = random(E);
    const Layer layer(dims,
                      {wq.data(), bias.data(), wk.data(), bias.data(), wv.data(), bias.data(), wo.data(), bias.data()});
    const bool cross = S != T;
    const auto query = random(B * T * E), memory = random(cross ? B * S * E : 0);
    std::vector<float> output(B * T * E);
    ForwardArgs args;
    args.batch = B;
    args.queryLen = T;
    args.keyLen = S;
    args.query = query.data();
    args.key = args.value = cross ? memory.data() : query.data();
    args.output = output.data();
    double oneThreadMs = 0;
    for (const std::string& t : threadList) {
      const int threads = std::atoi(t.c_str());
      if (threads < 1) continue;
      pool.resize(threads);
      const double ms = timeForward(layer, args, pool, threads, seconds);
      if (threads == 1) oneThreadMs = ms;
      const double gflops = layer.flops(args) / ms / 1e6;
      if (json) {
        std::printf(
            "{\"shape\":\"%s\",\"B\":%ld,\"T\":%ld,\"S\":%ld,\"E\":%ld,\"H\":%ld,\"threads\":%d,\"ms\":%.4f,"
            "\"gflops\":%.2f,\"isa\":\"%s\"}\n",
            name.c_str(), B, T, S, E, H, threads, ms, gflops, kernels().isa);
      } else {
        std::printf("%-6s %3d | %10.3f %8.1f | ", name.c_str(), threads, ms, gflops);
        if (oneThreadMs > 0) std::printf("%7.2fx\n", oneThreadMs / ms);
        else std::printf("%8s\n", "");
      }
      std::fflush(stdout);
    }
  }
  return 0;
}
