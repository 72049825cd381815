#include "attention.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "cpu.h"
#include "gemm.h"

namespace fastmha {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Per-thread scratch for one query tile, kept between calls.
struct TileScratch {
  AlignedFloats buffer;
  size_t capacity = 0;
  float* reserve(size_t count) {
    if (capacity < count) {
      buffer = allocateFloats(count);
      capacity = count;
    }
    return buffer.get();
  }
};

// Everything a query tile needs that is shared by all tiles of one forward.
struct Plan {
  const AttentionArgs& a;
  const Kernels& kernels;
  int64_t tileRows;   // TQ: queries per tile, a multiple of MR
  int64_t blockKeys;  // TK: keys per block, a multiple of NR (one row block of the packed values)
  std::vector<PackedMatrix> keysT, values;  // per (batch, head): Kᵀ [keyDim, S] and V [S, valueDim], packed
  std::vector<uint8_t> realKeysInBlock;     // per (batch, key block): any unpadded key in it?

  // Bottom-right causal alignment: the last query sees every key, so a decode step sees its whole past.
  int64_t lastKey(int64_t t) const {
    return a.causal ? std::min(a.keyLen - 1, t + (a.keyLen - a.queryLen)) : a.keyLen - 1;
  }
  const uint8_t* maskRow(int64_t b, int64_t h, int64_t t) const {
    return a.mask.data ? a.mask.data + b * a.mask.strideB + h * a.mask.strideH + t * a.mask.strideT : nullptr;
  }
};

struct Tile {
  int64_t b, h, t0, rows;
};

// May any query of the tile attend any key of [s0, s0 + n)? Wholly masked blocks are skipped, not computed.
bool blockAllowed(const Plan& p, const Tile& tile, int64_t s0, int64_t n) {
  const AttentionArgs& a = p.a;
  if (s0 > p.lastKey(tile.t0 + tile.rows - 1)) return false;
  if (a.keyPadding && !p.realKeysInBlock[tile.b * ((a.keyLen + p.blockKeys - 1) / p.blockKeys) + s0 / p.blockKeys]) {
    return false;
  }
  if (!a.mask.data) return true;
  const uint8_t* pad = a.keyPadding ? a.keyPadding + tile.b * a.keyLen : nullptr;
  for (int64_t r = 0; r < tile.rows; ++r) {
    const uint8_t* mask = p.maskRow(tile.b, tile.h, tile.t0 + r);
    const int64_t end = std::min(s0 + n, p.lastKey(tile.t0 + r) + 1);
    for (int64_t s = s0; s < end; ++s) {
      if (mask[s] && (!pad || pad[s])) return true;
    }
  }
  return false;
}

// Sets the masked scores of a block to -inf: computed from indices for causal, read from the masks otherwise.
void applyMasks(const Plan& p, const Tile& tile, int64_t s0, int64_t n, float* scores, int64_t lds) {
  const AttentionArgs& a = p.a;
  const uint8_t* pad = a.keyPadding ? a.keyPadding + tile.b * a.keyLen : nullptr;
  for (int64_t r = 0; r < tile.rows; ++r) {
    float* row = scores + r * lds;
    const int64_t visible = std::clamp<int64_t>(p.lastKey(tile.t0 + r) + 1 - s0, 0, n);
    std::fill(row + visible, row + n, kNegInf);
    const uint8_t* mask = p.maskRow(tile.b, tile.h, tile.t0 + r);
    if (!mask && !pad) continue;
    for (int64_t j = 0; j < visible; ++j) {
      const int64_t s = s0 + j;
      if ((mask && !mask[s]) || (pad && !pad[s])) row[j] = kNegInf;
    }
  }
}

// scores[rows, n] = Q_tile Kᵀ[:, s0 : s0 + n] through the GEMM micro-kernel (queries packed per KC block of keyDim).
void queryKeyScores(const Plan& p, const Tile& tile, const float* packedQueries, int64_t s0, int64_t n,
                    float* scores, int64_t lds) {
  const GemmConfig& g = p.kernels.gemm;
  const PackedMatrix& keysT = p.keysT[tile.b * p.a.heads + tile.h];
  const int64_t dk = p.a.keyDim, paddedRows = (tile.rows + g.mr - 1) / g.mr * g.mr;
  for (int64_t jr = 0; jr < n; jr += g.nr) {
    for (int64_t ir = 0; ir < tile.rows; ir += g.mr) {
      for (int64_t pc = 0; pc < dk; pc += g.kc) {
        const int64_t kLen = std::min(g.kc, dk - pc);
        g.ukernel(kLen, packedQueries + pc * paddedRows + ir * kLen, keysT.panel(pc, s0 + jr), scores + ir * lds + jr,
                  lds, std::min<int64_t>(g.mr, tile.rows - ir), std::min<int64_t>(g.nr, n - jr), nullptr, pc > 0);
      }
    }
  }
}

// out[rows, valueDim] += P[rows, n] V[s0 : s0 + n, :], P packed into MR-row panels first.
void accumulateValues(const Plan& p, const Tile& tile, const float* probs, int64_t lds, int64_t s0, int64_t n,
                      float* packedProbs, float* out) {
  const GemmConfig& g = p.kernels.gemm;
  const PackedMatrix& values = p.values[tile.b * p.a.heads + tile.h];
  const int64_t dv = p.a.valueDim;
  packA(probs, lds, tile.rows, n, g.mr, packedProbs);
  for (int64_t jr = 0; jr < dv; jr += g.nr) {
    for (int64_t ir = 0; ir < tile.rows; ir += g.mr) {
      g.ukernel(n, packedProbs + ir * n, values.panel(s0, jr), out + ir * dv + jr, dv,
                std::min<int64_t>(g.mr, tile.rows - ir), std::min<int64_t>(g.nr, dv - jr), nullptr, true);
    }
  }
}

void attendTile(const Plan& p, const Tile& tile, TileScratch& scratch) {
  const AttentionArgs& a = p.a;
  const GemmConfig& g = p.kernels.gemm;
  const int64_t S = a.keyLen, dk = a.keyDim, dv = a.valueDim, TK = p.blockKeys;
  const int64_t paddedRows = (tile.rows + g.mr - 1) / g.mr * g.mr;
  float* packedQueries = scratch.reserve(paddedRows * (dk + TK) + tile.rows * (TK + dv + 3));
  float* packedProbs = packedQueries + paddedRows * dk;
  float* block = packedProbs + paddedRows * TK;  // scores of one key block, [rows, TK]
  float* out = block + tile.rows * TK;           // [rows, valueDim]
  float* rowMax = out + tile.rows * dv;
  float* rowSum = rowMax + tile.rows;
  float* alpha = rowSum + tile.rows;
  std::fill(out, out + tile.rows * dv, 0.0f);
  std::fill(rowMax, rowMax + tile.rows, kNegInf);
  std::fill(rowSum, rowSum + tile.rows, 0.0f);

  const float* queries = a.queries + (tile.b * a.queryLen + tile.t0) * a.queryStride + tile.h * dk;
  for (int64_t pc = 0; pc < dk; pc += g.kc) {
    packA(queries + pc, a.queryStride, tile.rows, std::min(g.kc, dk - pc), g.mr, packedQueries + pc * paddedRows);
  }
  const int64_t keysSeen = std::min(S, p.lastKey(tile.t0 + tile.rows - 1) + 1);

  if (a.scores) {
    // Scores asked for: the tile's rows of [B, H, T, S] hold the logits, then the probabilities in place; P V
    // reads them from there. No block is computed twice.
    float* scores = a.scores + ((tile.b * a.heads + tile.h) * a.queryLen + tile.t0) * S;
    for (int64_t s0 = 0; s0 < S; s0 += TK) {
      const int64_t n = std::min(TK, S - s0);
      if (blockAllowed(p, tile, s0, n)) {
        queryKeyScores(p, tile, packedQueries, s0, n, scores + s0, S);
        applyMasks(p, tile, s0, n, scores + s0, S);
      } else {
        for (int64_t r = 0; r < tile.rows; ++r) std::fill(scores + r * S + s0, scores + r * S + s0 + n, kNegInf);
      }
    }
    p.kernels.onlineSoftmax(scores, S, tile.rows, S, a.scale, rowMax, rowSum, alpha);
    for (int64_t r = 0; r < tile.rows; ++r) {
      const float inv = rowSum[r] > 0 ? 1.0f / rowSum[r] : 0.0f;
      for (int64_t s = 0; s < S; ++s) scores[r * S + s] *= inv;
    }
    for (int64_t s0 = 0; s0 < keysSeen; s0 += TK) {
      const int64_t n = std::min(TK, S - s0);
      if (blockAllowed(p, tile, s0, n)) accumulateValues(p, tile, scores + s0, S, s0, n, packedProbs, out);
    }
    std::fill(rowSum, rowSum + tile.rows, 1.0f);  // already normalized
  } else {
    // Flash-style: one block of keys at a time, an online softmax, P V accumulated and rescaled as the running
    // maximum grows. Never more than [rows, TK] scores in memory.
    for (int64_t s0 = 0; s0 < keysSeen; s0 += TK) {
      const int64_t n = std::min(TK, S - s0);
      if (!blockAllowed(p, tile, s0, n)) continue;
      queryKeyScores(p, tile, packedQueries, s0, n, block, TK);
      applyMasks(p, tile, s0, n, block, TK);
      p.kernels.onlineSoftmax(block, TK, tile.rows, n, a.scale, rowMax, rowSum, alpha);
      for (int64_t r = 0; r < tile.rows; ++r) {
        if (alpha[r] == 1.0f) continue;
        for (int64_t i = 0; i < dv; ++i) out[r * dv + i] *= alpha[r];
      }
      accumulateValues(p, tile, block, TK, s0, n, packedProbs, out);
    }
  }

  // Normalize once; a row that attended nothing has sum 0 and gets zeros.
  for (int64_t r = 0; r < tile.rows; ++r) {
    float* ctx = a.context + (tile.b * a.queryLen + tile.t0 + r) * (a.heads * dv) + tile.h * dv;
    const float inv = rowSum[r] > 0 ? 1.0f / rowSum[r] : 0.0f;
    for (int64_t i = 0; i < dv; ++i) ctx[i] = out[r * dv + i] * inv;
  }
}

}  // namespace

void attention(const AttentionArgs& a, ThreadPool& pool, int maxThreads) {
  const Kernels& kernels = fastmha::kernels();
  const GemmConfig& g = kernels.gemm;
  Plan p{a, kernels, g.mr * std::max<int64_t>(1, (64 + g.mr - 1) / g.mr), std::max<int64_t>(g.nr, g.kc / g.nr * g.nr),
         {}, {}, {}};
  const int64_t B = a.batch, H = a.heads, T = a.queryLen, S = a.keyLen;

  // Keys transposed and values, packed once per (batch, head) for every query tile that reads them.
  p.keysT.resize(B * H);
  p.values.resize(B * H);
  pool.parallelFor(B * H, 1, maxThreads, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      p.keysT[bh] = PackedMatrix(a.keys + b * S * a.keyStride + h * a.keyDim, a.keyDim, S, a.keyStride, kernels,
                                 PackedMatrix::Source::Transposed);
      p.values[bh] = PackedMatrix(a.values + b * S * a.valueStride + h * a.valueDim, S, a.valueDim, a.valueStride,
                                  kernels, PackedMatrix::Source::RowMajor, p.blockKeys);
    }
  });
  if (a.keyPadding) {
    const int64_t blocks = (S + p.blockKeys - 1) / p.blockKeys;
    p.realKeysInBlock.assign(B * blocks, 0);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t s = 0; s < S; ++s) p.realKeysInBlock[b * blocks + s / p.blockKeys] |= a.keyPadding[b * S + s] != 0;
    }
  }

  // Tasks: (batch, head, query tile), the latest tiles first: under a causal mask they see the most keys, so the
  // atomic counter hands out the long tasks before the short ones that fill the gaps.
  const int64_t tiles = (T + p.tileRows - 1) / p.tileRows;
  pool.parallelFor(B * H * tiles, 1, maxThreads, [&](int64_t begin, int64_t end) {
    thread_local TileScratch scratch;
    for (int64_t task = begin; task < end; ++task) {
      const int64_t tile = tiles - 1 - task % tiles, bh = task / tiles;
      const int64_t t0 = tile * p.tileRows;
      attendTile(p, Tile{bh / H, bh % H, t0, std::min(p.tileRows, T - t0)}, scratch);
    }
  });
}

}  // namespace fastmha
