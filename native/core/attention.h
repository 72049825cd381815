// Scaled dot-product attention over projected heads: softmax(Q K^T * scale, masked) V, per (batch, head).
#pragma once

#include <atomic>
#include <cstdint>

#include "thread_pool.h"

namespace fastmha {

// A uint8 mask broadcast over [B, H, T, S]: element (b, h, t, s) is data[b*strideB + h*strideH + t*strideT + s];
// a zero stride broadcasts that axis. Nonzero means "may attend".
struct MaskView {
  const uint8_t* data = nullptr;
  int64_t strideB = 0, strideH = 0, strideT = 0;

  // Row t of head h of batch item b: its S bytes, one per key.
  const uint8_t* row(int64_t b, int64_t h, int64_t t) const { return data + b * strideB + h * strideH + t * strideT; }
};

// A float32 bias broadcast over [B, H, T, S] like MaskView, added to the scaled scores before the softmax (relative
// position biases, ALiBi, PyTorch's float attn_mask); -inf hides a key.
struct BiasView {
  const float* data = nullptr;
  int64_t strideB = 0, strideH = 0, strideT = 0;

  // Row t of head h of batch item b: its S floats, one per key.
  const float* row(int64_t b, int64_t h, int64_t t) const { return data + b * strideB + h * strideH + t * strideT; }
};

struct AttentionArgs {
  int64_t batch = 0, heads = 0, queryLen = 0, keyLen = 0, keyDim = 0, valueDim = 0;
  // Projected rows: head h of row (b, t) of the queries starts at queries + (b*T + t) * queryStride +
  // h * keyDim (heads side by side in a row); of the keys at keys + (b*S + s) * keyStride + h * keyHeadStride, and
  // likewise the values: heads side by side (keyHeadStride = keyDim), or each head's rows contiguous (keyStride =
  // keyDim, keyHeadStride = B*S*keyDim), which reads faster.
  const float* queries = nullptr;
  const float* keys = nullptr;
  const float* values = nullptr;
  int64_t queryStride = 0, keyStride = 0, valueStride = 0;
  int64_t keyHeadStride = 0, valueHeadStride = 0;
  // [B, T, H * valueDim] at rows of contextStride floats. It may be the queries' own storage (context = queries,
  // contextStride = queryStride) when valueDim == keyDim: each (row, head) of queries is read before the same
  // (row, head) of the context is written, and by the same task.
  float* context = nullptr;
  int64_t contextStride = 0;
  float* scores = nullptr;  // [B, H, T, S] softmax weights, or null when not asked for
  MaskView mask;
  BiasView bias;
  const uint8_t* keyPadding = nullptr;  // [B, S], nonzero = real token
  bool causal = false;                  // query t sees key s <= t + (S - T)
  float scale = 1.0f;
  // Set by another thread when the caller gave up on the result: tasks not yet begun are skipped, and the context
  // is left incomplete.
  const std::atomic<bool>* cancelled = nullptr;

  bool stopped() const { return isCancelled(cancelled); }

  // The first row of head h of batch item b in the projected queries, keys and values (the layouts above).
  const float* headQueries(int64_t b, int64_t h) const { return queries + b * queryLen * queryStride + h * keyDim; }
  const float* headKeys(int64_t b, int64_t h) const { return keys + b * keyLen * keyStride + h * keyHeadStride; }
  const float* headValues(int64_t b, int64_t h) const {
    return values + b * keyLen * valueStride + h * valueHeadStride;
  }
  // And its first row in the context, and in the scores (null when scores are not asked for).
  float* headContext(int64_t b, int64_t h) const { return context + b * queryLen * contextStride + h * valueDim; }
  float* headScores(int64_t b, int64_t h) const {
    return scores ? scores + (b * heads + h) * queryLen * keyLen : nullptr;
  }

  // Is any key hidden from any query by something other than its length? (A bias may hide keys with -inf.)
  bool masked() const { return causal || keyPadding || mask.data || bias.data; }
};

// A query row that may attend no key gets a zero context row and a zero scores row.
void attention(const AttentionArgs& args, ThreadPool& pool, int maxThreads);

}  // namespace fastmha
