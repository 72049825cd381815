// Scaled dot-product attention over projected heads: softmax(Q K^T * scale, masked) V, per (batch, head).
#pragma once

#include <cstdint>

#include "thread_pool.h"

namespace fastmha {

// A uint8 mask broadcast over [B, H, T, S]: element (b, h, t, s) is data[b*strideB + h*strideH + t*strideT + s];
// a zero stride broadcasts that axis. Nonzero means "may attend".
struct MaskView {
  const uint8_t* data = nullptr;
  int64_t strideB = 0, strideH = 0, strideT = 0;
};

struct AttentionArgs {
  int64_t batch = 0, heads = 0, queryLen = 0, keyLen = 0, keyDim = 0, valueDim = 0;
  // Projected rows, heads side by side: row (b, t) of queries starts at queries + (b*T + t) * queryStride and
  // head h occupies [h*keyDim, (h+1)*keyDim) of it; keys and values likewise with S rows per batch.
  const float* queries = nullptr;
  const float* keys = nullptr;
  const float* values = nullptr;
  int64_t queryStride = 0, keyStride = 0, valueStride = 0;
  // [B, T, H * valueDim] at rows of contextStride floats. It may be the queries' own storage (context = queries,
  // contextStride = queryStride) when valueDim == keyDim: each (row, head) of queries is read before the same
  // (row, head) of the context is written, and by the same task.
  float* context = nullptr;
  int64_t contextStride = 0;
  float* scores = nullptr;   // [B, H, T, S] softmax weights, or null when not asked for
  MaskView mask;
  const uint8_t* keyPadding = nullptr;  // [B, S], nonzero = real token
  bool causal = false;                  // query t sees key s <= t + (S - T)
  float scale = 1.0f;

  // Is any key hidden from any query by something other than its length?
  bool masked() const { return causal || keyPadding || mask.data; }
};

// A query row that may attend no key gets a zero context row and a zero scores row.
void attention(const AttentionArgs& args, ThreadPool& pool, int maxThreads);

}  // namespace fastmha
