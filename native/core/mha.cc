#include "mha.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu.h"
#include "scratch.h"

namespace fastmha {
namespace {

std::vector<float> copyBias(const float* bias, int64_t n) {
  return bias ? std::vector<float>(bias, bias + n) : std::vector<float>();
}

std::vector<float> concatBiases(std::initializer_list<const std::vector<float>*> parts) {
  std::vector<float> all;
  for (const std::vector<float>* part : parts) all.insert(all.end(), part->begin(), part->end());
  return all;
}

void copyOut(const std::vector<float>& from, float* to) {
  if (to && !from.empty()) std::memcpy(to, from.data(), from.size() * sizeof(float));
}

const float* orNull(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }

}  // namespace

Layer::Layer(const LayerDims& d, const WeightsView& w)
    : dims_(d),
      queryKernel_(w.queryKernel, d.queryDim, d.numHeads * d.keyDim, d.numHeads * d.keyDim, kernels()),
      keyKernel_(w.keyKernel, d.keyInputDim, d.numHeads * d.keyDim, d.numHeads * d.keyDim, kernels()),
      valueKernel_(w.valueKernel, d.valueInputDim, d.numHeads * d.valueDim, d.numHeads * d.valueDim, kernels()),
      outputKernel_(w.outputKernel, d.numHeads * d.valueDim, d.outputDim, d.outputDim, kernels()),
      queryBias_(copyBias(d.useBias ? w.queryBias : nullptr, d.numHeads * d.keyDim)),
      keyBias_(copyBias(d.useBias ? w.keyBias : nullptr, d.numHeads * d.keyDim)),
      valueBias_(copyBias(d.useBias ? w.valueBias : nullptr, d.numHeads * d.valueDim)),
      outputBias_(copyBias(d.useBias ? w.outputBias : nullptr, d.outputDim)) {
  if (d.keyInputDim == d.valueInputDim) {
    const PackedMatrix* parts[] = {&queryKernel_, &keyKernel_, &valueKernel_};
    keyValueKernel_ = PackedMatrix::concat(parts + 1, 2);
    keyValueBias_ = concatBiases({&keyBias_, &valueBias_});
    if (d.queryDim == d.keyInputDim) {
      fusedKernel_ = PackedMatrix::concat(parts, 3);
      fusedBias_ = concatBiases({&queryBias_, &keyBias_, &valueBias_});
    }
  }
}

void Layer::getWeights(float* queryKernel, float* queryBias, float* keyKernel, float* keyBias, float* valueKernel,
                       float* valueBias, float* outputKernel, float* outputBias) const {
  queryKernel_.unpack(queryKernel);
  keyKernel_.unpack(keyKernel);
  valueKernel_.unpack(valueKernel);
  outputKernel_.unpack(outputKernel);
  copyOut(queryBias_, queryBias);
  copyOut(keyBias_, keyBias);
  copyOut(valueBias_, valueBias);
  copyOut(outputBias_, outputBias);
}

size_t Layer::bytes() const {
  return queryKernel_.bytes() + keyKernel_.bytes() + valueKernel_.bytes() + outputKernel_.bytes() +
         fusedKernel_.bytes() + keyValueKernel_.bytes() +
         (queryBias_.size() + keyBias_.size() + valueBias_.size() + outputBias_.size() + fusedBias_.size() +
          keyValueBias_.size()) *
             sizeof(float);
}

int64_t Layer::flops(const ForwardArgs& f) const {
  const LayerDims& d = dims_;
  const int64_t queryRows = f.batch * f.queryLen, keyRows = f.batch * f.keyLen;
  const int64_t qk = d.numHeads * d.keyDim, v = d.numHeads * d.valueDim;
  const int64_t projections =
      queryRows * (d.queryDim * qk + v * d.outputDim) + keyRows * (d.keyInputDim * qk + d.valueInputDim * v);
  return 2 * (projections + f.batch * d.numHeads * f.queryLen * f.keyLen * (d.keyDim + d.valueDim));
}

void Layer::forward(const ForwardArgs& f, ThreadPool& pool, int maxThreads) const {
  const LayerDims& d = dims_;
  const int64_t queryRows = f.batch * f.queryLen, keyRows = f.batch * f.keyLen;
  if (f.stopped()) return;  // given up on while it waited in the queue
  if (f.keyLen == 0) {
    // No keys (an empty memory or cache): every query attends nothing, so its context is zeros and its output row
    // the output bias, as for a row whose keys are all masked.
    const float* bias = orNull(outputBias_);
    for (float* row = f.output; row < f.output + queryRows * d.outputDim; row += d.outputDim) {
      if (bias) std::copy(bias, bias + d.outputDim, row);
      else std::fill(row, row + d.outputDim, 0.0f);
    }
    return;
  }
  ThreadPool::Session session(pool);  // the projections and the attention are several regions back to back
  const int64_t qkWidth = d.numHeads * d.keyDim, vWidth = d.numHeads * d.valueDim;
  const bool fused = f.query == f.key && f.key == f.value && fusedKernel_.cols() > 0;

  AttentionArgs a;
  a.batch = f.batch;
  a.heads = d.numHeads;
  a.queryLen = f.queryLen;
  a.keyLen = f.keyLen;
  a.keyDim = d.keyDim;
  a.valueDim = d.valueDim;

  // Projected queries, keys and values, then the concatenated heads (the context), in the calling thread's
  // scratch (one forward at a time per thread). With equal key and value sizes the context overwrites the
  // queries in place (AttentionArgs::context): a long sequence's workspace is a third smaller.
  thread_local Scratch scratch;
  const int64_t projectedFloats =
      fused ? queryRows * fusedKernel_.cols() : queryRows * qkWidth + keyRows * (qkWidth + vWidth);
  const bool contextInPlace = d.valueDim == d.keyDim;
  float* projected = scratch.reserve(static_cast<size_t>(projectedFloats + (contextInPlace ? 0 : queryRows * vWidth)));
  // Keys and values are written head by head, each head's rows contiguous (GemmOutput), where every GEMM tile's
  // columns belong to one head: packing a head for the attention then reads whole lines in order, not a few lines a
  // projected row apart. Queries stay rows of heads side by side, so that the context can take their place.
  const int64_t nr = queryKernel_.kernels().gemm.nr;
  const bool keysByHead = d.keyDim % nr == 0, valuesByHead = d.valueDim % nr == 0;
  const bool bothByHead = keysByHead && valuesByHead && d.keyDim == d.valueDim;  // one GemmOutput::group for both
  auto byHead = [](float* dst, int64_t headDim) { return GemmOutput{dst, 0, 0, dst, headDim}; };
  auto setKeys = [&](const float* keys, int64_t rows, bool headMajor, int64_t rowStride) {
    a.keys = keys;
    a.keyStride = headMajor ? d.keyDim : rowStride;
    a.keyHeadStride = headMajor ? rows * d.keyDim : d.keyDim;
  };
  auto setValues = [&](const float* values, int64_t rows, bool headMajor, int64_t rowStride) {
    a.values = values;
    a.valueStride = headMajor ? d.valueDim : rowStride;
    a.valueHeadStride = headMajor ? rows * d.valueDim : d.valueDim;
  };
  if (fused) {
    const int64_t width = fusedKernel_.cols();
    float* keys = projected + queryRows * qkWidth;
    gemm(queryRows, f.query, d.queryDim, fusedKernel_, orNull(fusedBias_),
         bothByHead ? GemmOutput{projected, qkWidth, qkWidth, keys, d.keyDim} : GemmOutput{projected, width, width},
         pool, maxThreads, f.cancelled);
    a.queries = projected;
    a.queryStride = bothByHead ? qkWidth : width;
    setKeys(bothByHead ? keys : projected + qkWidth, queryRows, bothByHead, width);
    setValues(bothByHead ? keys + queryRows * qkWidth : projected + 2 * qkWidth, queryRows, bothByHead, width);
  } else {
    float* queries = projected;
    float* keys = queries + queryRows * qkWidth;
    gemm(queryRows, f.query, d.queryDim, queryKernel_, orNull(queryBias_), queries, qkWidth, pool, maxThreads,
         f.cancelled);
    a.queries = queries;
    a.queryStride = qkWidth;
    if (f.key == f.value && keyValueKernel_.cols() > 0) {
      const int64_t width = keyValueKernel_.cols();
      gemm(keyRows, f.key, d.keyInputDim, keyValueKernel_, orNull(keyValueBias_),
           bothByHead ? byHead(keys, d.keyDim) : GemmOutput{keys, width, width}, pool, maxThreads, f.cancelled);
      setKeys(keys, keyRows, bothByHead, width);
      // After all heads' keys, or after each row's keys.
      setValues(bothByHead ? keys + keyRows * qkWidth : keys + qkWidth, keyRows, bothByHead, width);
    } else {
      float* values = keys + keyRows * qkWidth;
      gemm(keyRows, f.key, d.keyInputDim, keyKernel_, orNull(keyBias_),
           keysByHead ? byHead(keys, d.keyDim) : GemmOutput{keys, qkWidth, qkWidth}, pool, maxThreads, f.cancelled);
      gemm(keyRows, f.value, d.valueInputDim, valueKernel_, orNull(valueBias_),
           valuesByHead ? byHead(values, d.valueDim) : GemmOutput{values, vWidth, vWidth}, pool, maxThreads,
           f.cancelled);
      setKeys(keys, keyRows, keysByHead, qkWidth);
      setValues(values, keyRows, valuesByHead, vWidth);
    }
  }
  a.context = contextInPlace ? const_cast<float*>(a.queries) : projected + projectedFloats;
  a.contextStride = contextInPlace ? a.queryStride : vWidth;
  a.scores = f.scores;
  a.mask = f.mask;
  a.bias = f.bias;
  a.keyPadding = f.keyPadding;
  a.causal = f.causal;
  a.scale = 1.0f / std::sqrt(static_cast<float>(d.keyDim));
  a.cancelled = f.cancelled;  // each product and attention task checks it: a call given up on stops within a block
  attention(a, pool, maxThreads);

  gemm(queryRows, a.context, a.contextStride, outputKernel_, orNull(outputBias_), f.output, d.outputDim, pool,
       maxThreads, f.cancelled);
}

}  // namespace fastmha
