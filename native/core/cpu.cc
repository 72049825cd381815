#include "cpu.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

namespace fastmha {
namespace {

std::vector<std::string> detectFeatures() {
  std::vector<std::string> f;
#if defined(__x86_64__) || defined(_M_X64)
  unsigned a, b, c, d;
  f.push_back("sse2");
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & bit_OSXSAVE;
  const bool fma = c & bit_FMA;
  const bool avx = c & bit_AVX;
  unsigned xcr0 = 0;
  // xgetbv: the OS must save the ymm (bits 1-2) and zmm/opmask (bits 5-7) state across context switches.
  if (osxsave) {
    unsigned hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0), "=d"(hi) : "c"(0));
  }
  const bool osYmm = (xcr0 & 0x6) == 0x6, osZmm = (xcr0 & 0xe6) == 0xe6;
  if (avx && osYmm) f.push_back("avx");
  if (fma && osYmm) f.push_back("fma");
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    if ((b & bit_AVX2) && osYmm) f.push_back("avx2");
    if (osZmm) {
      if (b & bit_AVX512F) f.push_back("avx512f");
      if (b & bit_AVX512BW) f.push_back("avx512bw");
      if (b & bit_AVX512VL) f.push_back("avx512vl");
      if (b & bit_AVX512DQ) f.push_back("avx512dq");
    }
  }
#elif defined(__aarch64__)
  f.push_back("neon");
#endif
  return f;
}

Kernels chooseKernels() {
  // Only the portable kernels exist so far; the SIMD folders register themselves here as they land.
  return Kernels{"scalar", scalar::sgemm};
}

}  // namespace

const Kernels& kernels() {
  static const Kernels table = chooseKernels();
  return table;
}

CpuInfo cpuInfo() {
  static const std::vector<std::string> features = detectFeatures();
  return CpuInfo{kernels().isa, features};
}

}  // namespace fastmha
