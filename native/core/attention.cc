#include "attention.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "scratch.h"

// The attention core works on transposed scores. For a tile of NR queries (one B panel of the GEMM micro-kernel):
//   Sᵀ[keys, NR] = K Qᵀ   A = keys packed in MR-row panels (once per head), B = the tile's queries transposed
//   softmax down each column of Sᵀ: across the tile's queries, so every step is SIMD over independent lanes
//   Oᵀ[dv, NR] += Vᵀ Pᵀ  A = Vᵀ packed in MR-row panels (once per head), B = Pᵀ: the block of Sᵀ as it stands,
//                        already in the B panel layout, so probabilities are never copied or packed.
namespace fastmha {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// Below these lengths attention goes query by query (attendShort): a tile of NR queries over MR-key panels
// would be mostly padding.
constexpr int64_t kShortKeys = 16, kShortQueries = 4;
// From this many (batch, head) pairs per thread, tasks are whole pairs (see attention()).
constexpr int64_t kPairsPerThread = 16;

// What every tile of one forward shares.
struct Plan {
  const AttentionArgs& a;
  const Kernels& k;
  const GemmConfig& g;
  int64_t blockKeys;                     // keys per block: a multiple of MR
  int64_t paddedKeys;                    // S rounded up to MR
  int64_t paddedValue;                   // valueDim rounded up to MR
  std::vector<uint8_t> realKeysInBlock;  // per (batch, key block): any unpadded key in it?

  // Floats of one (batch, head)'s packed keys, [paddedKeys / MR][keyDim][MR], followed by its values transposed
  // into A panels, [paddedValue / MR][S][MR].
  int64_t packedFloats() const { return valuesOffset() + paddedValue * a.keyLen; }
  int64_t valuesOffset() const { return paddedKeys * a.keyDim; }
  // Bottom-right causal alignment: the last query sees every key, so a decode step sees its whole past.
  int64_t lastKey(int64_t t) const {
    return a.causal ? std::min(a.keyLen - 1, t + (a.keyLen - a.queryLen)) : a.keyLen - 1;
  }
};

struct Tile {
  int64_t b, h, t0, rows;  // queries [t0, t0 + rows), rows <= NR
  const float* keys;       // the head's packed keys and values (Plan::packedFloats)
  const float* values;
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
  for (int64_t c = 0; c < tile.rows; ++c) {
    const uint8_t* mask = a.mask.row(tile.b, tile.h, tile.t0 + c);
    const int64_t end = std::min(s0 + n, p.lastKey(tile.t0 + c) + 1);
    for (int64_t s = s0; s < end; ++s) {
      if (mask[s] && (!pad || pad[s])) return true;
    }
  }
  return false;
}

// Sets masked entries of the Sᵀ block (key rows s0.., query columns) to -inf; causal from indices.
void applyMasks(const Plan& p, const Tile& tile, int64_t s0, int64_t n, float* scoresT, int64_t lds) {
  const AttentionArgs& a = p.a;
  const uint8_t* pad = a.keyPadding ? a.keyPadding + tile.b * a.keyLen : nullptr;
  const int64_t shift = a.keyLen - a.queryLen;
  for (int64_t j = 0; j < n; ++j) {
    const int64_t s = s0 + j;
    float* row = scoresT + j * lds;
    if (pad && !pad[s]) {
      std::fill(row, row + tile.rows, kNegInf);
      continue;
    }
    // Query t sees key s when s <= t + shift: the first columns of the row may be in its future.
    const int64_t first = a.causal ? std::clamp<int64_t>(s - shift - tile.t0, 0, tile.rows) : 0;
    std::fill(row, row + first, kNegInf);
  }
  if (!a.mask.data) return;
  // Query by query, along its row of the mask, and without a branch. Key by key across the queries, with a branch
  // per score (mispredicted wherever the mask is irregular), this took 14-19% of a T=2048 forward's perf samples
  // under a [T, S] mask; now 10% for an irregular mask, 3% for one made from padding, whose rows mostly hide none of
  // a block's keys and are passed over.
  constexpr uint32_t kNegInfBits = 0xff800000u;
  for (int64_t c = 0; c < tile.rows; ++c) {
    const uint8_t* allowed = a.mask.row(tile.b, tile.h, tile.t0 + c) + s0;
    if (!std::memchr(allowed, 0, static_cast<size_t>(n))) continue;
    float* column = scoresT + c;
    for (int64_t j = 0; j < n; ++j) {
      const uint32_t hide = 0u - static_cast<uint32_t>(allowed[j] == 0);  // all ones where masked
      uint32_t bits;
      std::memcpy(&bits, column + j * lds, sizeof bits);
      bits = (bits & ~hide) | (kNegInfBits & hide);
      std::memcpy(column + j * lds, &bits, sizeof bits);
    }
  }
}

// Adds the bias to the Sᵀ block (key rows s0.., query columns), in the scores' base 2.
void addBias(const Plan& p, const Tile& tile, int64_t s0, int64_t n, float* scoresT, int64_t lds) {
  const BiasView& bias = p.a.bias;
  const float* rows = bias.row(tile.b, tile.h, tile.t0) + s0;
  // Query by query, along its row of the bias. Read key by key across the queries (a gather of floats a bias row
  // apart), attendTile, where this is inlined, took 20% of a T=2048 forward's perf samples with a [1, H, T, S] bias;
  // now 12%.
  for (int64_t c = 0; c < tile.rows; ++c) {
    const float* row = rows + c * bias.strideT;
    float* column = scoresT + c;
    for (int64_t j = 0; j < n; ++j) column[j * lds] += row[j] * kLog2e;
  }
}

// Sᵀ[s0 : s0 + n, :] = K Qᵀ, one micro-kernel call per MR keys (k runs over the whole keyDim).
void scoresT(const Plan& p, const float* keys, const float* queriesT, int64_t s0, int64_t n, float* out) {
  const GemmConfig& g = p.g;
  for (int64_t i = 0; i < n; i += g.mr) {
    g.ukernel(p.a.keyDim, keys + (s0 + i) * p.a.keyDim, queriesT, out + i * g.nr, g.nr, std::min<int64_t>(g.mr, n - i),
              g.nr, nullptr, false);
  }
}

// Oᵀ[dv, NR] (+)= Vᵀ[:, s0 : s0 + n] Pᵀ, Pᵀ being the n x NR block of probabilities; the first block overwrites.
void accumulateValues(const Plan& p, const float* values, const float* probsT, int64_t s0, int64_t n, float* outT,
                      bool accumulate) {
  const GemmConfig& g = p.g;
  const int64_t S = p.a.keyLen, dv = p.a.valueDim;
  for (int64_t i = 0; i < dv; i += g.mr) {
    g.ukernel(n, values + i * S + s0 * g.mr, probsT, outT + i * g.nr, g.nr, std::min<int64_t>(g.mr, dv - i), g.nr,
              nullptr, accumulate);
  }
}

// Each thread's buffers for the tile it computes (queries, scores, output, softmax state), whichever schedule runs.
Scratch& tileScratch() {
  thread_local Scratch scratch;
  return scratch;
}

void attendTile(const Plan& p, const Tile& tile) {
  const AttentionArgs& a = p.a;
  const GemmConfig& g = p.g;
  const int64_t S = a.keyLen, dk = a.keyDim, dv = a.valueDim, nr = g.nr;
  // With scores, Sᵀ holds every key at once. At least NR rows: the block stages the context at the end.
  const int64_t blockRows = std::max(nr, a.scores ? p.paddedKeys : p.blockKeys);
  float* queriesT = tileScratch().reserve(nr * (dk + blockRows + p.paddedValue + 3));
  float* block = queriesT + dk * nr;          // Sᵀ, then Pᵀ: [blockRows, NR]; last, the context
  float* outT = block + blockRows * nr;       // Oᵀ: [paddedValue, NR]
  float* rowMax = outT + p.paddedValue * nr;  // per query: running maximum,
  float* rowSum = rowMax + nr;                // running sum,
  float* alpha = rowSum + nr;                 // and this block's rescaling factor
  std::fill(rowMax, rowMax + nr, kNegInf);
  std::fill(rowSum, rowSum + nr, 0.0f);

  // Qᵀ as one B panel [keyDim, NR], zero columns past the tile; scaled here, once per query, so that the scores
  // arrive scaled, and in base 2 as the softmax takes them (kernels/common/online_softmax.h), without a multiply each.
  // This head's rows of the queries and of the context, from the tile's first query.
  const float* queries = a.headQueries(tile.b, tile.h) + tile.t0 * a.queryStride;
  float* context = a.headContext(tile.b, tile.h) + tile.t0 * a.contextStride;
  p.k.transposeQueries(queries, a.queryStride, tile.rows, dk, a.scale * kLog2e, queriesT);
  const bool masked = a.masked();
  const int64_t keysSeen = std::min(S, p.lastKey(tile.t0 + tile.rows - 1) + 1);
  // The context rows this tile writes at the end, and the queries of the tile before it (computed next: tiles run
  // from the last), fetched while the tile computes: rows [c0, c1) of both before the key block that begins at s0,
  // spread over the blocks. All at once (256 lines) they filled the line fill buffers and the tile waited on them:
  // 1.7% of a long sequence's attention time in perf's samples; spread, the tile's own share fell by 1.4-2.7 points.
  const int64_t previousRows = std::min(nr, tile.t0);
  const int64_t blocks = std::max<int64_t>(1, (keysSeen + p.blockKeys - 1) / p.blockKeys);
  auto prefetchRows = [&](int64_t s0) {
    const int64_t block = s0 / p.blockKeys, c0 = block * nr / blocks, c1 = (block + 1) * nr / blocks;
    for (int64_t c = c0; c < std::min(c1, tile.rows); ++c) {
      for (int64_t d = 0; d < dv; d += 16) __builtin_prefetch(context + c * a.contextStride + d, 1, 3);
    }
    for (int64_t c = c0; c < std::min(c1, previousRows); ++c) {
      for (int64_t d = 0; d < dk; d += 16) __builtin_prefetch(queries - (c + 1) * a.queryStride + d, 0, 3);
    }
  };

  // Each query's factor from its sum: 1 / sum; 0 for a query that attended nothing (sum 0), whose zeros are then
  // written as such; NaN for one that met a NaN, whose whole row (scores, context) turns NaN, as softmax gives it.
  auto normalizers = [&] {
    for (int64_t c = 0; c < tile.rows; ++c) alpha[c] = rowSum[c] == 0 ? 0.0f : 1.0f / rowSum[c];
  };

  if (a.scores) {
    // Scores asked for: Sᵀ for every key at once, one softmax, normalized, written out transposed; then P V.
    for (int64_t s0 = 0; s0 < S; s0 += p.blockKeys) {
      const int64_t n = std::min(p.blockKeys, S - s0);
      if (s0 < keysSeen) prefetchRows(s0);
      if (blockAllowed(p, tile, s0, n)) {
        scoresT(p, tile.keys, queriesT, s0, n, block + s0 * nr);
        if (a.bias.data) addBias(p, tile, s0, n, block + s0 * nr, nr);
        if (masked) applyMasks(p, tile, s0, n, block + s0 * nr, nr);
      } else {
        for (int64_t j = s0; j < s0 + n; ++j) std::fill(block + j * nr, block + j * nr + tile.rows, kNegInf);
      }
    }
    p.k.onlineSoftmax(block, S, rowMax, rowSum, alpha);
    float* scores = a.headScores(tile.b, tile.h) + tile.t0 * S;
    normalizers();
    // Query by query: each query's row of scores written in order. Key by key across the queries (stores to 16 rows
    // at once), attendTile took 27% of a T=2048 forward's perf samples with scores; now 9%.
    for (int64_t c = 0; c < tile.rows; ++c) {
      float* out = scores + c * S;
      for (int64_t s = 0; s < S; ++s) out[s] = block[s * nr + c] *= alpha[c];
    }
    if (keysSeen > 0) accumulateValues(p, tile.values, block, 0, keysSeen, outT, false);
    else std::fill(outT, outT + p.paddedValue * nr, 0.0f);
    // Already normalized: a sum of 1, but 0 still where nothing was attended (its zeros are written below).
    for (int64_t c = 0; c < tile.rows; ++c) rowSum[c] = alpha[c] == 0 ? 0.0f : 1.0f;
  } else {
    // Flash-style: a block of keys at a time, the online softmax, Oᵀ rescaled as maxima grow, never more than
    // [blockKeys, NR] scores in memory.
    bool first = true;
    for (int64_t s0 = 0; s0 < keysSeen; s0 += p.blockKeys) {
      const int64_t n = std::min(p.blockKeys, S - s0);
      prefetchRows(s0);
      if (!blockAllowed(p, tile, s0, n)) continue;
      scoresT(p, tile.keys, queriesT, s0, n, block);
      if (a.bias.data) addBias(p, tile, s0, n, block, nr);
      if (masked) applyMasks(p, tile, s0, n, block, nr);
      p.k.onlineSoftmax(block, n, rowMax, rowSum, alpha);
      // Rescaled only when a maximum grew: once a query's maximum has settled (most blocks of a long sequence),
      // its factor is exactly 2^0 = 1.
      if (!first && std::any_of(alpha, alpha + nr, [](float f) { return f != 1.0f; })) {
        for (int64_t d = 0; d < dv; ++d) {
          float* __restrict row = outT + d * nr;
          for (int64_t c = 0; c < nr; ++c) row[c] *= alpha[c];
        }
      }
      accumulateValues(p, tile.values, block, s0, n, outT, !first);
      first = false;
    }
    if (first) std::fill(outT, outT + p.paddedValue * nr, 0.0f);  // every block masked: nothing attended
  }

  // Normalize once and transpose back into the context. A query that attended nothing gets zeros written, not its
  // Oᵀ column times 0: that column is NaN where another query of the tile attends a NaN value, weighted 0 in it.
  normalizers();
  // Oᵀ goes back NR dimensions at a time through the kernel that transposes the queries (dimensions as its rows,
  // queries as its columns), into `staged` [rows][NR] (the scores block, free now), then scaled into the context.
  // Element by element, a scalar gather from Oᵀ per float, this was most of attendTile's own time: attention alone
  // now takes 0.92-0.98x as long (B16 T32 E768 H12 0.924, B32 T64 E384 0.950, bert 0.968-0.976, long 0.978).
  float* staged = block;
  for (int64_t d0 = 0; d0 < dv; d0 += nr) {
    const int64_t n = std::min(nr, dv - d0);
    p.k.transposeQueries(outT + d0 * nr, nr, n, tile.rows, 1.0f, staged);
    for (int64_t c = 0; c < tile.rows; ++c) {
      float* __restrict row = context + c * a.contextStride + d0;
      const float* __restrict from = staged + c * nr;
      const float scale = alpha[c];
      if (scale == 0.0f) {
        std::fill(row, row + n, 0.0f);
      } else {
        for (int64_t r = 0; r < n; ++r) row[r] = from[r] * scale;
      }
    }
  }
}

// Zeroes the packed values (Vᵀ panels, [paddedValue / MR][S][MR]) of the keys that no query of this (batch, head)
// may attend: padding, or a key the mask hides from every query. P V gives them weights of exactly 0, but 0 times
// what a padded position may hold (memory never written: NaN, Inf) is NaN, and every query's context would be NaN.
// The query-by-query path skips zero weights instead. A key hidden from some queries only is still read.
void zeroHiddenValues(const Plan& p, int64_t b, int64_t h, float* packedValues) {
  const AttentionArgs& a = p.a;
  if (!a.keyPadding && !a.mask.data) return;
  const int64_t S = a.keyLen, mr = p.g.mr;
  thread_local std::vector<uint8_t> buffer;
  buffer.assign(S, a.mask.data ? 0 : 1);
  uint8_t* __restrict seen = buffer.data();  // per key: nonzero if some query may attend it
  if (a.mask.data) {
    // Row by row (the mask's layout), each row once (one when the mask broadcasts over queries), ORed through
    // restrict pointers so that it runs in whole vectors: through the vector itself with a compare per byte, the
    // scan made a T=2048 forward with a [T, S] mask 1.6-1.8x as long, a bert-sized one 1.13x.
    for (int64_t t = 0; t < (a.mask.strideT == 0 ? 1 : a.queryLen); ++t) {
      const uint8_t* __restrict row = a.mask.row(b, h, t);
      for (int64_t s = 0; s < S; ++s) seen[s] |= row[s];
    }
  }
  const uint8_t* pad = a.keyPadding ? a.keyPadding + b * S : nullptr;
  for (int64_t s = 0; s < S; ++s) {
    if (seen[s] && (!pad || pad[s])) continue;
    for (int64_t i = 0; i < p.paddedValue; i += mr) std::fill_n(packedValues + i * S + s * mr, mr, 0.0f);
  }
}

// Asks for a head's S rows of keys and values (from headKeys and headValues), key by key, a cache line at a time,
// into the cache levels `locality` names (__builtin_prefetch's: 3 all of them, 2 L2 and beyond).
template <int Locality>
void prefetchKeysValues(const AttentionArgs& a, const float* keys, const float* values) {
  for (int64_t s = 0; s < a.keyLen; ++s) {
    for (int64_t d = 0; d < a.keyDim; d += 16) __builtin_prefetch(keys + s * a.keyStride + d, 0, Locality);
    for (int64_t d = 0; d < a.valueDim; d += 16) __builtin_prefetch(values + s * a.valueStride + d, 0, Locality);
  }
}

// One (batch, head)'s keys and values into the panels the micro-kernel reads (Plan::packedFloats at dst).
void packHead(const Plan& p, int64_t bh, float* dst) {
  const AttentionArgs& a = p.a;
  const int64_t b = bh / a.heads, h = bh % a.heads, S = a.keyLen;
  const float* keys = a.headKeys(b, h);
  const float* values = a.headValues(b, h);
  // A head's rows side by side with the other heads' are a few cache lines each, a projected row apart: the
  // hardware prefetchers do not follow them, and packing waited on every line. When they fit well in L2 (a
  // sentence's head), all are asked for first: packing one bert head alone 14-25 -> 11-19 us (medians of three
  // runs). A head whose rows are contiguous streams in by itself.
  constexpr int64_t kPrefetchBytes = 256 << 10;
  const bool strided = a.keyStride != a.keyDim || a.valueStride != a.valueDim;
  if (strided && S * (a.keyDim + a.valueDim) * int64_t{sizeof(float)} <= kPrefetchBytes) {
    prefetchKeysValues<2>(a, keys, values);
  }
  p.g.packA(keys, a.keyStride, S, a.keyDim, dst);
  p.k.packValuesT(values, a.valueStride, S, a.valueDim, dst + p.valuesOffset());
  zeroHiddenValues(p, b, h, dst + p.valuesOffset());
}

// Asks for the rows of one (batch, head)'s queries, keys and values, a few dozen lines in places the hardware
// prefetchers do not foresee (another head's rows).
void prefetchPair(const AttentionArgs& a, int64_t bh) {
  const int64_t b = bh / a.heads, h = bh % a.heads;
  const float* queries = a.headQueries(b, h);
  const float* keys = a.headKeys(b, h);
  const float* values = a.headValues(b, h);
  for (int64_t t = 0; t < a.queryLen; ++t) {
    for (int64_t d = 0; d < a.keyDim; d += 16) __builtin_prefetch(queries + t * a.queryStride + d);
  }
  prefetchKeysValues<3>(a, keys, values);
}

// Short sequences, query by query: where a tile would hold NR queries of which few are real, or keys padded up to
// MR, most of its work would be padding. Masks are combined once per (batch, head) into T x S bytes.
void attendShort(const AttentionArgs& a, AttendRows attendRows, ThreadPool& pool, int maxThreads) {
  const int64_t H = a.heads, T = a.queryLen, S = a.keyLen, shift = S - T;
  const bool masked = a.masked();
  // A batch of short sentences whose projected heads have left L2 (over 1 MiB in all) asks for the next pair's rows
  // while it computes one: each pair is a few microseconds of work that otherwise waits on L3 for every row. Paper
  // shape (B64 T5 E512 H8) at 1 thread, alternated: attention 0.51-0.55 -> 0.44-0.46 ms in minutes when memory was
  // slow, no change (0.33-0.39 ms) when it was not. Where the heads fit in L2 (a few sentences), the requests cost
  // 2-7% of the attention instead; a pair of more than 128 lines is left alone.
  const int64_t pairFloats = T * a.keyDim + S * (a.keyDim + a.valueDim);
  const bool prefetch = pairFloats <= 2048 && a.batch * H * pairFloats * int64_t{sizeof(float)} > (int64_t{1} << 20);
  // Pairs are handed out eight chunks a thread, not one by one: a pair of a short sentence is about a microsecond of
  // work, and taking each from the counter the threads share, then reading the clock (yieldToWaiting), cost 5-9% of
  // it (paper shape at 2 threads: attention 0.28-0.30 -> 0.25-0.29 ms). A chunk also gives the prefetch above a next
  // pair to ask for.
  const int64_t grain = std::max<int64_t>(1, a.batch * H / (8 * int64_t{std::max(1, maxThreads)}));
  pool.parallelFor(a.batch * H, grain, maxThreads, [&](int64_t begin, int64_t end) {
    thread_local Scratch scratch;
    const int64_t workFloats = attendRowsWorkFloats(S, a.keyDim);
    float* work = scratch.reserve(static_cast<size_t>(workFloats + (masked ? (T * S + 3) / 4 : 0)));
    uint8_t* allowed = masked ? reinterpret_cast<uint8_t*>(work + workFloats) : nullptr;
    for (int64_t bh = begin; bh < end && !a.stopped(); ++bh) {
      const int64_t b = bh / H, h = bh % H;
      if (prefetch && bh + 1 < end) prefetchPair(a, bh + 1);
      if (masked) {
        const uint8_t* pad = a.keyPadding ? a.keyPadding + b * S : nullptr;
        for (int64_t t = 0; t < T; ++t) {
          const uint8_t* mask = a.mask.data ? a.mask.row(b, h, t) : nullptr;
          for (int64_t s = 0; s < S; ++s) {
            allowed[t * S + s] = (!a.causal || s <= t + shift) && (!pad || pad[s]) && (!mask || mask[s]);
          }
        }
      }
      attendRows(a.headQueries(b, h), a.queryStride, a.headKeys(b, h), a.keyStride, a.headValues(b, h), a.valueStride,
                 T, S, a.keyDim, a.valueDim, a.scale, allowed, a.headContext(b, h), a.contextStride, a.headScores(b, h),
                 work);
    }
  });
}

}  // namespace

void attention(const AttentionArgs& a, ThreadPool& pool, int maxThreads) {
  const Kernels& kernels = fastmha::kernels();
  const GemmConfig& g = kernels.gemm;
  const int64_t B = a.batch, H = a.heads, T = a.queryLen, S = a.keyLen;
  const int64_t mr = g.mr;
  // Small problems stay on fewer threads: waking one costs about as much as a few million flops.
  // The query-by-query path does several times less per flop (padding lanes, a softmax per query): a sixteenth of
  // them pays for a thread there (cross-attention of 12 queries over 9 keys, 0.22 Mflop: median 12.5-12.8 -> 10.9-11.5
  // us on two threads inside a forward).
  constexpr int64_t kFlopsPerThread = int64_t{1} << 20, kShortFlopsPerThread = kFlopsPerThread / 16;
  const int64_t flops = 2 * B * H * T * S * (a.keyDim + a.valueDim);
  // A bias takes the tiled path: the query-by-query kernels have no place for it.
  const bool queryByQuery = !a.bias.data && (S <= kShortKeys || T <= kShortQueries);
  maxThreads = static_cast<int>(
      std::clamp<int64_t>(flops / (queryByQuery ? kShortFlopsPerThread : kFlopsPerThread), 1, std::max(1, maxThreads)));
  if (queryByQuery) return attendShort(a, kernels.attendRows, pool, maxThreads);
  Plan p{a, kernels, g, mr * ((256 + mr - 1) / mr), (S + mr - 1) / mr * mr, (a.valueDim + mr - 1) / mr * mr, {}};

  if (a.keyPadding) {
    const int64_t blocks = (S + p.blockKeys - 1) / p.blockKeys;
    p.realKeysInBlock.assign(B * blocks, 0);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t s = 0; s < S; ++s) p.realKeysInBlock[b * blocks + s / p.blockKeys] |= a.keyPadding[b * S + s] != 0;
    }
  }

  const int64_t tiles = (T + g.nr - 1) / g.nr, perHead = p.packedFloats();
  const int64_t busy = std::min<int64_t>({maxThreads, pool.threads(), B * H});
  // Tiles of one (batch, head), the latest first: under a causal mask they see the most keys, so the long tasks
  // are handed out before the short ones that fill the gaps.
  auto attendHead = [&](int64_t bh, const float* packed, int64_t firstTile, int64_t endTile) {
    for (int64_t tile = tiles - 1 - firstTile; tile > tiles - 1 - endTile; --tile) {
      const int64_t t0 = tile * g.nr;
      attendTile(p, Tile{bh / H, bh % H, t0, std::min<int64_t>(g.nr, T - t0), packed, packed + p.valuesOffset()});
    }
  };

  // Many (batch, head) pairs per thread (a batch of sentences): a task is one pair, packed by the thread that
  // computes it, into its own scratch. The packed head stays in that core's L2 for all its tiles; packed ahead by the
  // pool, a batch's heads would be megabytes read back from L3. With fewer pairs, the last pair to finish could hold
  // up the others for a large part of the call (a thread that lost its core for a while, a causal mask).
  if (B * H >= kPairsPerThread * busy) {
    pool.parallelFor(B * H, 1, maxThreads, [&](int64_t begin, int64_t end) {
      thread_local Scratch packed;
      float* head = packed.reserve(static_cast<size_t>(perHead));
      for (int64_t bh = begin; bh < end && !a.stopped(); ++bh) {
        packHead(p, bh, head);
        attendHead(bh, head, 0, tiles);
      }
    });
    return;
  }

  // Few pairs (one long sequence): tasks are (pair, tile), the pairs' keys and values packed first, shared by every
  // thread, a group of pairs at a time: all of a long sequence's heads packed at once would double its keys' and
  // values' memory.
  constexpr int64_t kPackedFloats = int64_t{4} << 20;  // 16 MiB
  const int64_t group = std::clamp<int64_t>(kPackedFloats / perHead, busy, B * H);
  thread_local Scratch shared;  // the calling thread's: one forward at a time uses it
  float* packed = shared.reserve(static_cast<size_t>(group * perHead));
  for (int64_t first = 0; first < B * H && !a.stopped(); first += group) {
    const int64_t heads = std::min(group, B * H - first);
    pool.parallelFor(heads, 1, maxThreads, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) packHead(p, first + i, packed + i * perHead);
    });
    pool.parallelFor(heads * tiles, 1, maxThreads, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end && !a.stopped(); ++task) {
        const int64_t i = task / tiles, tile = task % tiles;
        attendHead(first + i, packed + i * perHead, tile, tile + 1);
      }
    });
  }
}

}  // namespace fastmha
