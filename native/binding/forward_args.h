// Converts the plain object lib/native.ts passes to forward()/forwardSync() into core::ForwardArgs, checking
// every array's type, attachment and exact length against the layer's dimensions.
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

CheckedForward checkForwardArgs(Napi::Value value, const LayerDims& dims);

}  // namespace binding
}  // namespace fastmha
