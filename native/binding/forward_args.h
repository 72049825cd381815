// Converts the positional arguments lib/native.ts passes to forward()/forwardSync() (in the order of
// NativeForwardArgs there) into core::ForwardArgs, checking every array's type, attachment and exact length
// against the layer's dimensions.
#pragma once

#include <napi.h>

#include <array>
#include <vector>

#include "../core/mha.h"
#include "input_copies.h"

namespace fastmha {
namespace binding {

struct CheckedForward {
  ForwardArgs args;
  int maxThreads = 1;
  // every array the computation reads or writes (a fixed array: no allocation per call)
  std::array<Napi::Object, 8> arrays;
  int arrayCount = 0;
  void keep(const Napi::Object& a) { arrays[arrayCount++] = a; }
  // The inputs by name (mask, bias and keyPadding may be empty), for forward()'s copies.
  Napi::TypedArray query, key, value, keyPadding, mask, bias;
};

CheckedForward checkForwardArgs(const Napi::CallbackInfo& info, const LayerDims& dims);

// forward()'s argument after the forward tuple: which inputs live in ordinary (detachable) ArrayBuffers and must
// be copied before the call returns. Bits: query 1, key 2, value 4, keyPadding 8, mask 16, bias 32.
constexpr size_t kCopiesPosition = 19;
constexpr size_t kCancelPosition = 20;  // forward() only: a cancel token, or undefined

// Copies the inputs `copies` names into `owned` and points args at the copies: one copy per distinct array, so
// that self-attention's query == key == value still holds for the fused projection.
void copyInputs(CheckedForward& c, uint32_t copies, std::vector<InputCopy>& owned);

}  // namespace binding
}  // namespace fastmha
