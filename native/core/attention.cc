#include "attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace fastmha {
namespace {

// One query row of one head: scores for every key (a row of S floats, never a T x S matrix), masked,
// softmax-normalized, then the weighted sum of values.
void attendRow(const AttentionArgs& a, int64_t b, int64_t h, int64_t t, std::vector<float>& weights,
               std::vector<uint8_t>& allowed) {
  const int64_t S = a.keyLen, dk = a.keyDim, dv = a.valueDim;
  const float* q = a.queries + (b * a.queryLen + t) * a.queryStride + h * dk;
  const uint8_t* maskRow = a.mask.data ? a.mask.data + b * a.mask.strideB + h * a.mask.strideH + t * a.mask.strideT
                                       : nullptr;
  const uint8_t* padRow = a.keyPadding ? a.keyPadding + b * S : nullptr;
  // Bottom-right alignment: the last query sees every key, so a decode step (T = 1) sees its whole past.
  const int64_t lastKey = a.causal ? std::min(S - 1, t + (S - a.queryLen)) : S - 1;

  float maxScore = -std::numeric_limits<float>::infinity();
  bool any = false;
  for (int64_t s = 0; s < S; ++s) {
    const bool ok = s <= lastKey && (!maskRow || maskRow[s]) && (!padRow || padRow[s]);
    allowed[s] = ok;
    if (!ok) continue;
    const float* k = a.keys + (b * S + s) * a.keyStride + h * dk;
    float dot = 0;
    for (int64_t i = 0; i < dk; ++i) dot += q[i] * k[i];
    weights[s] = dot * a.scale;
    maxScore = std::max(maxScore, weights[s]);
    any = true;
  }

  float* ctx = a.context + (b * a.queryLen + t) * (a.heads * dv) + h * dv;
  float* scoresRow = a.scores ? a.scores + ((b * a.heads + h) * a.queryLen + t) * S : nullptr;
  std::fill(ctx, ctx + dv, 0.0f);
  if (!any) {
    if (scoresRow) std::fill(scoresRow, scoresRow + S, 0.0f);
    return;
  }
  float sum = 0;
  for (int64_t s = 0; s < S; ++s) {
    weights[s] = allowed[s] ? std::exp(weights[s] - maxScore) : 0.0f;
    sum += weights[s];
  }
  const float inv = 1.0f / sum;  // sum >= 1: the maximum contributes exp(0)
  for (int64_t s = 0; s < S; ++s) {
    const float p = weights[s] * inv;
    if (scoresRow) scoresRow[s] = p;
    if (p == 0.0f) continue;
    const float* v = a.values + (b * S + s) * a.valueStride + h * dv;
    for (int64_t i = 0; i < dv; ++i) ctx[i] += p * v[i];
  }
}

}  // namespace

void attention(const AttentionArgs& a, ThreadPool& pool, int maxThreads) {
  const int64_t rows = a.batch * a.heads * a.queryLen;
  const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, a.keyLen * (a.keyDim + a.valueDim)));
  pool.parallelFor(rows, grain, maxThreads, [&](int64_t begin, int64_t end) {
    std::vector<float> weights(a.keyLen);
    std::vector<uint8_t> allowed(a.keyLen);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t t = r % a.queryLen, bh = r / a.queryLen;
      attendRow(a, bh / a.heads, bh % a.heads, t, weights, allowed);
    }
  });
}

}  // namespace fastmha
