// Converts the positional arguments lib/native.ts passes to forward()/forwardSync() (in the order of
// NativeForwardArgs there) into core::ForwardArgs, checking every array's type, attachment and exact length
// against the layer's dimensions.
#pragma once

#include <napi.h>

#include <vector>

#include "../core/mha.h"

namespace fastmha {
namespace binding {

struct CheckedForward {
  ForwardArgs args;
  int maxThreads = 1;
  std::vector<Napi::Object> arrays;  // every array the computation reads or writes
};

CheckedForward checkForwardArgs(const Napi::CallbackInfo& info, const LayerDims& dims);

}  // namespace binding
}  // namespace fastmha
