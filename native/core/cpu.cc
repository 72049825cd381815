#include "cpu.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "../kernels/scalar/config.h"
#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>

#include "../kernels/avx2/config.h"
#include "../kernels/avx512/config.h"
#elif defined(__aarch64__)
#include "../kernels/neon/config.h"
#endif

namespace fastmha {
namespace {

std::vector<std::string> detectFeatures() {
  std::vector<std::string> f;
#if defined(__x86_64__) || defined(_M_X64)
  unsigned a, b, c, d;
  f.push_back("sse2");
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  unsigned xcr0 = 0;
  // xgetbv: the OS must save the ymm (bits 1-2) and zmm/opmask (bits 5-7) state across context switches.
  if (c & bit_OSXSAVE) {
    unsigned hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0), "=d"(hi) : "c"(0));
  }
  const bool osYmm = (xcr0 & 0x6) == 0x6, osZmm = (xcr0 & 0xe6) == 0xe6;
  if ((c & bit_AVX) && osYmm) f.push_back("avx");
  if ((c & bit_FMA) && osYmm) f.push_back("fma");
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    if ((b & bit_AVX2) && osYmm) f.push_back("avx2");
    if (osZmm) {
      if (b & bit_AVX512F) f.push_back("avx512f");
      if (b & bit_AVX512DQ) f.push_back("avx512dq");
      if (b & bit_AVX512BW) f.push_back("avx512bw");
      if (b & bit_AVX512VL) f.push_back("avx512vl");
    }
  }
#elif defined(__aarch64__)
  f.push_back("neon");
#endif
  return f;
}

// The tables below are never destroyed: at process.exit() static destructors run while pool threads may still
// be computing with them.
const std::vector<std::string>& features() {
  static const auto* f = new std::vector<std::string>(detectFeatures());
  return *f;
}

// One ISA's table: every kernel its folder (kernels/<isa>/config.h) declares.
#define FASTMHA_KERNEL_TABLE(isa) \
  Kernels { #isa, isa::kGemm, isa::onlineSoftmax, isa::attendRows, isa::transposeQueries, isa::packValuesT }

// Best first.
const std::vector<Kernels>& supported() {
  static const auto* tables = [] {
    auto* t = new std::vector<Kernels>;
    for (const std::string& isa : isasFor(features())) {
#if defined(__x86_64__) || defined(_M_X64)
      if (isa == "avx512") t->push_back(FASTMHA_KERNEL_TABLE(avx512));
      if (isa == "avx2") t->push_back(FASTMHA_KERNEL_TABLE(avx2));
#elif defined(__aarch64__)
      if (isa == "neon") t->push_back(FASTMHA_KERNEL_TABLE(neon));
#endif
      if (isa == "scalar") t->push_back(FASTMHA_KERNEL_TABLE(scalar));
    }
    return t;
  }();
  return *tables;
}

}  // namespace

std::vector<std::string> isasFor(const std::vector<std::string>& features) {
  auto has = [&](const char* name) { return std::find(features.begin(), features.end(), name) != features.end(); };
  std::vector<std::string> isas;
#if defined(__x86_64__) || defined(_M_X64)
  // Every extension the folder is compiled with (CMakeLists.txt): the compiler may use any of them. The first
  // AVX-512 chips (Xeon Phi) had F without DQ, BW and VL.
  if (has("avx512f") && has("avx512dq") && has("avx512bw") && has("avx512vl")) isas.push_back("avx512");
  if (has("avx2") && has("fma")) isas.push_back("avx2");
#elif defined(__aarch64__)
  if (has("neon")) isas.push_back("neon");
#endif
  isas.push_back("scalar");
  return isas;
}

const Kernels* kernelsFor(const std::string& isa) {
  for (const Kernels& k : supported()) {
    if (isa == k.isa) return &k;
  }
  return nullptr;
}

const Kernels& kernels() {
  static const Kernels* chosen = [] {
    const char* forced = std::getenv("FASTMHA_ISA");
    if (forced && *forced) {
      if (const Kernels* k = kernelsFor(forced)) return k;
      std::fprintf(stderr, "fastmha: FASTMHA_ISA=%s is not supported by this CPU or build; using %s\n", forced,
                   supported().front().isa);
    }
    return &supported().front();
  }();
  return *chosen;
}

CpuInfo cpuInfo() { return CpuInfo{kernels().isa, features()}; }

}  // namespace fastmha
