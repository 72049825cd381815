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

constexpr size_t kCancelPosition = 19;  // forward() only, after the forward tuple: a cancel token, or undefined

// Copies every input in an ordinary ArrayBuffer into `owned` and points args at the copies: such a buffer could be
// detached (transferred) while the pool reads it; a SharedArrayBuffer cannot be, and is read in place. Decided
// here from the buffer itself, not by lib/: a subclass of Float32Array can make its `buffer` getter claim to be
// shared. One copy per distinct array, so that self-attention's query == key == value still holds for the fused
// projection.
void copyInputs(CheckedForward& c, std::vector<InputCopy>& owned);

}  // namespace binding
}  // namespace fastmha
