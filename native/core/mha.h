// The multi-head attention layer (Vaswani et al. 2017, §3.2.2): project queries, keys and values per head,
// attend, concatenate the heads and project the result. Weights are prepared once, when set.
#pragma once

#include <cstdint>
#include <string>

#include "attention.h"
#include "gemm.h"
#include "thread_pool.h"

namespace fastmha {

struct LayerDims {
  int64_t numHeads = 0, keyDim = 0, valueDim = 0;
  int64_t queryDim = 0, keyInputDim = 0, valueInputDim = 0, outputDim = 0;
  bool useBias = true;
};

// Row-major weights in the Keras layout: query kernel [queryDim, numHeads*keyDim], query bias [numHeads*keyDim],
// key and value likewise, output kernel [numHeads*valueDim, outputDim], output bias [outputDim].
// Biases are null when the layer has none.
struct WeightsView {
  const float *queryKernel, *queryBias, *keyKernel, *keyBias, *valueKernel, *valueBias, *outputKernel, *outputBias;
};

struct ForwardArgs {
  int64_t batch = 0, queryLen = 0, keyLen = 0;
  const float* query = nullptr;  // [B, T, queryDim]
  const float* key = nullptr;    // [B, S, keyInputDim]
  const float* value = nullptr;  // [B, S, valueInputDim]
  MaskView mask;
  BiasView bias;
  const uint8_t* keyPadding = nullptr;  // [B, S]
  bool causal = false;
  float* output = nullptr;  // [B, T, outputDim]
  float* scores = nullptr;  // [B, H, T, S] or null
  // Set by another thread when the caller gave up on the result: the forward stops within a block of work (MC rows
  // of a product, an attention task), leaving the output (and scores) incomplete.
  const std::atomic<bool>* cancelled = nullptr;

  bool stopped() const { return isCancelled(cancelled); }
};

class Layer {
 public:
  Layer(const LayerDims& dims, const WeightsView& weights);
  const LayerDims& dims() const { return dims_; }
  // Fills views of freshly allocated row-major copies, in the layout setWeights takes.
  void getWeights(float* queryKernel, float* queryBias, float* keyKernel, float* keyBias, float* valueKernel,
                  float* valueBias, float* outputKernel, float* outputBias) const;
  size_t bytes() const;
  // Never throws: the arguments were checked at the binding.
  void forward(const ForwardArgs& args, ThreadPool& pool, int maxThreads) const;
  // Floating-point operations of one forward (multiply-adds count 2), masks aside.
  int64_t flops(const ForwardArgs& args) const;

 private:
  LayerDims dims_;
  PackedMatrix queryKernel_, keyKernel_, valueKernel_, outputKernel_;
  std::vector<float> queryBias_, keyBias_, valueBias_, outputBias_;
  // Self-attention projects the one input once through query|key|value side by side (when their input sizes
  // agree): one pass over the activations instead of three.
  PackedMatrix fusedKernel_;
  std::vector<float> fusedBias_;
  // Cross-attention over one memory (key and value the same input) projects key|value in one pass likewise.
  PackedMatrix keyValueKernel_;
  std::vector<float> keyValueBias_;
};

}  // namespace fastmha
