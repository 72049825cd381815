// V floats as one value (a GCC/Clang vector extension), V the ISA's register width (config.h, kVectorFloats), for the
// shared kernels compiled in each kernels/<isa>/ folder: held in registers, where a float[NR] accumulator lived on
// the stack and every step waited on a store. Wider than the register it would be split through the stack again.
// In an unnamed namespace, as the kernels that use it are: each ISA's files get their own copy (see online_softmax.h).
#pragma once

#include <cstdint>
#include <cstring>

namespace fastmha {
namespace {

template <int V>
struct Vector {
  typedef float type __attribute__((vector_size(V * sizeof(float))));
};

// Truncated to int32: a float, or each lane of a vector of them.
inline int32_t toInt32(float x) { return static_cast<int32_t>(x); }

template <typename Vec>
inline auto toInt32(Vec x) {
  typedef int32_t Ints __attribute__((vector_size(sizeof(Vec))));
  return __builtin_convertvector(x, Ints);
}

template <typename Vec>
inline Vec loadVector(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <typename Vec>
inline void storeVector(float* p, Vec v) {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace
}  // namespace fastmha
