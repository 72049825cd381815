import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import { MultiHeadAttention, Tensor } from '../dist/index.js';
import { referenceAttention } from './reference';
import { expectClose, poisoned, randomArray, randomizeWeights, randomMask, randomTensor, refWeights, rng } from './helpers';

interface Case {
  B: number;
  T: number;
  S?: number; // omitted: self-attention (S = T, value = key = query)
  H: number;
  dk: number;
  dv?: number;
  queryDim?: number;
  keyInputDim?: number;
  valueInputDim?: number;
  outputDim?: number;
  useBias?: boolean;
  causal?: boolean;
  attentionMaskShape?: 'TS' | 'BTS' | 'B1TS' | 'BHTS' | 'flatTS' | 'flatBTS' | 'flatBHTS' | 'B11S';
  keyPadding?: boolean;
  // An attention bias of this shape (flat: the form read from its length); a few entries -Infinity.
  biasShape?: 'TS' | 'HTS' | 'BTS' | 'BHTS' | 'B11S' | 'flatTS' | 'flatBHTS';
  keyLengths?: number[]; // key padding as real lengths per batch item: whole blocks of keys padded
  scores?: boolean;
  threads?: number;
}

let seed = 1;

// Runs one case through forwardSync (into a poisoned `out`) and forward, against the float64 reference.
async function check(c: Case): Promise<void> {
  const self = c.S === undefined;
  const S = c.S ?? c.T;
  const mha = new MultiHeadAttention({
    numHeads: c.H,
    keyDim: c.dk,
    valueDim: c.dv,
    queryDim: c.queryDim,
    keyInputDim: self ? undefined : c.keyInputDim,
    valueInputDim: self ? undefined : c.valueInputDim,
    outputDim: c.outputDim,
    useBias: c.useBias,
    threads: c.threads,
  });
  randomizeWeights(mha, seed++);
  const { B, T, H } = c;
  const query = randomTensor([B, T, mha.queryDim], seed++);
  const value = self ? query : randomTensor([B, S, mha.valueInputDim], seed++);
  const key = self ? query : randomTensor([B, S, mha.keyInputDim], seed++);

  let attentionMask: Uint8Array | { data: Uint8Array; shape: number[] } | undefined;
  let maskAt: ((b: number, h: number, t: number, s: number) => number) | undefined;
  const shapes: Record<string, number[]> = {
    TS: [T, S], BTS: [B, T, S], B1TS: [B, 1, T, S], BHTS: [B, H, T, S], B11S: [B, 1, 1, S],
    flatTS: [T, S], flatBTS: [B, T, S], flatBHTS: [B, H, T, S],
  };
  if (c.attentionMaskShape) {
    const shape = shapes[c.attentionMaskShape];
    const data = randomMask(shape.reduce((a, b) => a * b, 1), seed++, 0.6);
    attentionMask = c.attentionMaskShape.startsWith('flat') ? data : { data, shape };
    // Index the mask by its own shape, independently of lib/masks.ts.
    maskAt = (b, h, t, s) => {
      switch (c.attentionMaskShape) {
        case 'TS': case 'flatTS': return data[t * S + s];
        case 'BTS': case 'B1TS': case 'flatBTS': return data[(b * T + t) * S + s];
        case 'B11S': return data[b * S + s];
        default: return data[((b * H + h) * T + t) * S + s];
      }
    };
  }
  let attentionBias: Float32Array | { data: Float32Array; shape: number[] } | undefined;
  let biasAt: ((b: number, h: number, t: number, s: number) => number) | undefined;
  if (c.biasShape) {
    const biasShapes: Record<string, number[]> = {
      TS: [T, S], HTS: [1, H, T, S], BTS: [B, T, S], BHTS: [B, H, T, S], B11S: [B, 1, 1, S],
      flatTS: [T, S], flatBHTS: [B, H, T, S],
    };
    const shape = biasShapes[c.biasShape];
    const data = randomArray(shape.reduce((x, y) => x * y, 1), seed++, 2);
    for (let i = 0; i < data.length; i += 7) data[i] = -Infinity;
    attentionBias = c.biasShape.startsWith('flat') ? data : { data, shape };
    // Index the bias by its own shape, independently of lib/masks.ts.
    biasAt = (b, h, t, s) => {
      switch (c.biasShape) {
        case 'TS': case 'flatTS': return data[t * S + s];
        case 'HTS': return data[(h * T + t) * S + s];
        case 'BTS': return data[(b * T + t) * S + s];
        case 'B11S': return data[b * S + s];
        default: return data[((b * H + h) * T + t) * S + s];
      }
    };
  }
  let keyPaddingMask = c.keyPadding ? randomMask(B * S, seed++, 0.7) : undefined;
  if (c.keyLengths) {
    keyPaddingMask = new Uint8Array(B * S);
    c.keyLengths.forEach((n, b) => keyPaddingMask!.fill(1, b * S, b * S + n));
  }
  const allowed = (b: number, h: number, t: number, s: number) =>
    (!maskAt || maskAt(b, h, t, s) !== 0) &&
    (!keyPaddingMask || keyPaddingMask[b * S + s] !== 0) &&
    (!c.causal || s <= t + (S - T));

  const ref = referenceAttention({
    B, T, S, H, dk: c.dk, dv: mha.valueDim,
    queryDim: mha.queryDim, keyInputDim: mha.keyInputDim, valueInputDim: mha.valueInputDim, outputDim: mha.outputDim,
    query: query.data, key: key.data, value: value.data, weights: refWeights(mha), allowed, bias: biasAt,
  });

  const options = {
    value: self ? undefined : value,
    key: self ? undefined : key,
    attentionMask,
    attentionBias,
    keyPaddingMask,
    causal: c.causal,
    returnAttentionScores: c.scores,
  };
  const out = poisoned(B * T * mha.outputDim);
  const sync = mha.forwardSync(query, { ...options, out });
  expect(sync.output.data).toBe(out);
  expect(sync.output.shape).toEqual([B, T, mha.outputDim]);
  expectClose(out, ref.output);
  // A shared `out` is written in place by the pool, so the async path is poisoned too.
  const sharedOut = new Float32Array(new SharedArrayBuffer(out.byteLength)).fill(Number.NaN);
  const async = await mha.forward(query, { ...options, out: sharedOut });
  expect(async.output.data).toBe(sharedOut);
  expect(Array.from(sharedOut)).toEqual(Array.from(out)); // the same arithmetic either way
  if (c.scores) {
    expect(sync.attentionScores!.shape).toEqual([B, H, T, S]);
    expectClose(sync.attentionScores!.data, ref.scores, 1e-4, 'attentionScores');
    expect(Array.from(async.attentionScores!.data)).toEqual(Array.from(sync.attentionScores!.data));
    // Asking for the scores takes another path through the attention core: the output must not change.
    const without = mha.forwardSync(query, { ...options, returnAttentionScores: false });
    expectClose(without.output.data, out, 1e-5, 'output without scores');
  } else {
    expect(sync.attentionScores).toBeUndefined();
  }
  mha.dispose();
}

describe('forward against the float64 reference', () => {
  it.each([
    { B: 1, T: 1, H: 1, dk: 1 },
    { B: 1, T: 1, H: 2, dk: 3 },
    { B: 3, T: 17, H: 3, dk: 5 },
    { B: 2, T: 33, H: 4, dk: 16, scores: true },
    { B: 1, T: 257, H: 2, dk: 8 },
    { B: 2, T: 7, H: 3, dk: 4, dv: 6, queryDim: 10, outputDim: 5 },
    { B: 2, T: 9, H: 2, dk: 8, useBias: false, scores: true },
    // Feature sizes past the GEMM blocks (KC 256, NR up to 32, MR up to 14) and not multiples of them.
    { B: 2, T: 37, H: 5, dk: 13, queryDim: 300, outputDim: 71 },
  ])('self-attention %o', (c) => check(c));

  it.each([
    { B: 2, T: 5, S: 9, H: 2, dk: 4, keyInputDim: 7, valueInputDim: 11, scores: true },
    { B: 3, T: 12, S: 1, H: 3, dk: 3, keyInputDim: 3, valueInputDim: 2 },
    { B: 1, T: 1, S: 33, H: 4, dk: 8, dv: 3, keyInputDim: 17, valueInputDim: 5, outputDim: 9 },
    { B: 2, T: 17, S: 3, H: 1, dk: 2, queryDim: 6, keyInputDim: 6, valueInputDim: 6, scores: true },
  ])('cross-attention %o', (c) => check(c));

  it.each(['TS', 'BTS', 'B1TS', 'BHTS', 'B11S', 'flatTS', 'flatBTS', 'flatBHTS'] as const)(
    'attentionMask of shape %s, self and cross',
    async (shape) => {
      await check({ B: 3, T: 7, H: 2, dk: 4, attentionMaskShape: shape, scores: true });
      await check({ B: 2, T: 5, S: 11, H: 3, dk: 3, keyInputDim: 4, valueInputDim: 5, attentionMaskShape: shape, scores: true });
      // Long enough for tiles of queries and blocks of keys (short sequences go query by query).
      await check({ B: 2, T: 37, S: 41, H: 2, dk: 4, keyInputDim: 5, valueInputDim: 5, attentionMaskShape: shape,
        scores: true });
      await check({ B: 2, T: 35, H: 2, dk: 4, attentionMaskShape: shape });
    },
  );

  it('keyPaddingMask', async () => {
    await check({ B: 4, T: 9, H: 2, dk: 4, keyPadding: true, scores: true });
    await check({ B: 3, T: 4, S: 13, H: 2, dk: 4, keyInputDim: 3, valueInputDim: 3, keyPadding: true, scores: true });
    await check({ B: 3, T: 40, H: 2, dk: 4, keyPadding: true, scores: true });
    await check({ B: 2, T: 33, S: 45, H: 2, dk: 4, keyInputDim: 3, valueInputDim: 3, keyPadding: true });
  });

  it('keyPaddingMask padding whole blocks of keys, and a batch item with no real key', async () => {
    await check({ B: 3, T: 70, S: 700, H: 2, dk: 4, keyInputDim: 5, valueInputDim: 5, keyLengths: [300, 0, 699],
      scores: true });
    await check({ B: 3, T: 600, H: 2, dk: 4, keyLengths: [290, 600, 1] });
  });

  it.each([
    { T: 8, S: undefined },
    { T: 3, S: 10 }, // decode-like: fewer queries than keys, each sees its whole past
    { T: 1, S: 17 },
    { T: 10, S: 4 }, // more queries than keys: the first T - S rows see nothing
    { T: 45, S: undefined },
    { T: 33, S: 70 },
    { T: 70, S: 33 },
  ])('causal, bottom-right aligned, T=$T S=$S', ({ T, S }) =>
    check({ B: 2, T, S, H: 2, dk: 4, keyInputDim: 8, valueInputDim: 8, causal: true, scores: true }),
  );

  it('all masks together combine by AND', async () => {
    await check({ B: 3, T: 6, H: 3, dk: 4, causal: true, keyPadding: true, attentionMaskShape: 'BHTS', scores: true });
    await check({ B: 2, T: 5, S: 8, H: 2, dk: 4, keyInputDim: 8, valueInputDim: 8, causal: true, keyPadding: true,
      attentionMaskShape: 'B1TS', scores: true });
    await check({ B: 2, T: 35, S: 38, H: 2, dk: 4, keyInputDim: 8, valueInputDim: 8, causal: true, keyPadding: true,
      attentionMaskShape: 'BHTS', scores: true });
  });
});

// Everything above at once, drawn at random (seeded): sizes on both sides of the short-sequence and tile thresholds,
// head sizes that do and do not fill the GEMM's panels, every mask and bias form, together.
describe('random combinations', () => {
  it('200 cases of sizes, masks, biases, padding and causal together', async () => {
    const r = rng(2026);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
    const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
    for (let i = 0; i < 200; i++) {
      const cross = r() < 0.5;
      const c: Case = {
        B: int(1, 3), T: pick([1, 3, 4, 5, 16, 17, int(1, 40), int(40, 140)]), H: int(1, 4),
        dk: pick([1, 3, 16, 17, int(1, 40)]), queryDim: int(1, 24), outputDim: int(1, 24), useBias: r() < 0.8,
        causal: r() < 0.3, keyPadding: r() < 0.3, scores: r() < 0.3, threads: int(1, 3),
        attentionMaskShape: pick([undefined, undefined, 'TS', 'BTS', 'B1TS', 'BHTS', 'B11S', 'flatBTS'] as const),
        biasShape: pick([undefined, undefined, undefined, 'TS', 'HTS', 'BHTS', 'B11S'] as const),
      };
      c.dv = pick([c.dk, int(1, 40)]);
      if (cross) Object.assign(c, { S: pick([1, 9, 16, 17, int(1, 40), int(40, 140)]), keyInputDim: int(1, 24),
        valueInputDim: int(1, 24) });
      try {
        await check(c);
      } catch (e) {
        throw new Error(`case ${i}, ${JSON.stringify(c)}: ${(e as Error).message}`);
      }
    }
  });
});

// The attention core schedules a batch with many (batch, head) pairs as one task per pair, packed by the thread that
// computes it, and few pairs as tasks per tile of queries over pairs packed first and shared: at 16 pairs per thread.
describe('both schedules of the attention core, every mask', () => {
  const masks = { causal: true, keyPadding: true, attentionMaskShape: 'BHTS', scores: true } as const;
  it.each([
    { schedule: 'a task per pair', B: 11, H: 3, threads: 2 },
    { schedule: 'a task per pair', B: 4, H: 4, threads: 1 },
    { schedule: 'tasks per tile, shared packing', B: 1, H: 3, threads: 2 },
    { schedule: 'tasks per tile, shared packing', B: 3, H: 5, threads: 1 },
  ])('$schedule: B=$B H=$H on $threads thread(s)', async ({ B, H, threads }) => {
    await check({ B, T: 41, S: 50, H, dk: 5, keyInputDim: 7, valueInputDim: 6, threads, ...masks });
    const keyLengths = Array.from({ length: B }, (_, b) => [299, 1, 280, 300, 17][b % 5]);
    await check({ B, T: 300, H, dk: 4, causal: true, keyLengths, threads });
  });
});

describe('long sequences, not multiples of any tile', () => {
  it('self-attention over 2049 tokens, causal', () => check({ B: 1, T: 2049, H: 2, dk: 8, causal: true }));
  it('cross-attention 1500 x 2100 with key padding and causal', () =>
    check({ B: 1, T: 1500, S: 2100, H: 2, dk: 8, keyInputDim: 16, valueInputDim: 16, causal: true, keyPadding: true }));
  it('cross-attention 1100 x 1300 with a [T, S] mask and scores', () =>
    check({ B: 1, T: 1100, S: 1300, H: 1, dk: 8, keyInputDim: 8, valueInputDim: 8, attentionMaskShape: 'TS',
      scores: true }));
  it('more scores than a typed array holds, none asked for: B 1, H 64, T = S = 8193', async () => {
    // 64 x 8193 x 8193 > 2^32. Keys past the first 40 are padding, so their blocks are skipped and the reference needs
    // only those 40: a query's output depends on its own row and the keys it may attend. It is checked at a few rows.
    const T = 8193, H = 64, E = 8, real = 40, rows = [0, 1, 17, 4096, 8191, 8192];
    const mha = new MultiHeadAttention({ numHeads: H, keyDim: 1, queryDim: E });
    randomizeWeights(mha, seed++);
    const query = randomTensor([1, T, E], seed++);
    const keyPaddingMask = new Uint8Array(T).fill(1, 0, real);
    const pick = (x: Float32Array) => Float32Array.from(rows.flatMap((t) => Array.from(x.subarray(t * E, (t + 1) * E))));
    const keys = query.data.subarray(0, real * E);
    const ref = referenceAttention({
      B: 1, T: rows.length, S: real, H, dk: 1, dv: 1, queryDim: E, keyInputDim: E, valueInputDim: E, outputDim: E,
      query: pick(query.data), key: keys, value: keys, weights: refWeights(mha),
    });
    const out = poisoned(T * E);
    mha.forwardSync(query, { keyPaddingMask, out });
    expect(out.every(Number.isFinite)).toBe(true); // every row written
    expectClose(pick(out), ref.output);
    const sharedOut = new Float32Array(new SharedArrayBuffer(out.byteLength)).fill(Number.NaN);
    await mha.forward(query, { keyPaddingMask, out: sharedOut });
    expect(Array.from(sharedOut)).toEqual(Array.from(out));
    mha.dispose();
  });
});

// Where a head size is a multiple of the GEMM tile's width (32 floats on AVX-512, 16 on AVX2 and the portable
// path), the projections write keys and values head by head and the attention reads them there; other sizes keep
// heads side by side in each row.
describe('keys and values written head by head', () => {
  it('self-attention, tiled, causal with padded keys, and scores', () =>
    check({ B: 3, T: 45, H: 3, dk: 32, causal: true, keyPadding: true, scores: true }));
  it('self-attention, query by query, with a [B, T, S] mask', () =>
    check({ B: 2, T: 3, H: 2, dk: 64, attentionMaskShape: 'BTS', scores: true }));
  it('cross-attention, keys and values from one input', () =>
    check({ B: 2, T: 20, S: 37, H: 2, dk: 64, keyInputDim: 24, valueInputDim: 24, keyPadding: true }));
  it('cross-attention, keys and values of different sizes from different inputs', async () => {
    await check({ B: 2, T: 19, S: 23, H: 3, dk: 32, dv: 16, keyInputDim: 7, valueInputDim: 5, causal: true });
    await check({ B: 1, T: 40, S: 3, H: 2, dk: 16, dv: 64, keyInputDim: 9, valueInputDim: 6, scores: true });
  });
});

// Up to 16 keys, attention goes query by query with the keys as the lanes of a vector: four queries at a time, the
// context in blocks of four vector registers (64 floats on AVX-512, 32 on AVX2, 16 on SSE2 and NEON) and a remainder.
describe('up to 16 keys, keys as lanes', () => {
  it.each([1, 7, 16])('%i keys, queries not a multiple of four, head sizes past whole blocks', (S) =>
    check({ B: 2, T: 7, S, H: 2, dk: 67, dv: 83, keyInputDim: 13, valueInputDim: 13, attentionMaskShape: 'BHTS',
      scores: true }));
  it('16 keys of which the last is padding or in the future', async () => {
    await check({ B: 2, T: 9, S: 16, H: 3, dk: 17, keyInputDim: 5, valueInputDim: 5, keyLengths: [15, 16] });
    await check({ B: 1, T: 16, H: 2, dk: 64, causal: true, scores: true });
  });
});

describe('attention bias', () => {
  // Added to the scaled scores before the softmax, -Infinity entries included, in every broadcast form; with masks,
  // causal, scores; the short shapes (query by query without a bias) and long ones (key blocks, tiles).
  it.each([
    { B: 2, T: 5, H: 2, dk: 4, biasShape: 'TS', scores: true },
    { B: 2, T: 7, S: 9, H: 3, dk: 5, keyInputDim: 6, valueInputDim: 7, biasShape: 'HTS', scores: true },
    { B: 3, T: 17, H: 2, dk: 8, biasShape: 'BTS', causal: true },
    { B: 2, T: 33, S: 40, H: 2, dk: 16, keyInputDim: 16, valueInputDim: 16, biasShape: 'BHTS', attentionMaskShape: 'B1TS',
      keyPadding: true, scores: true },
    { B: 2, T: 3, S: 300, H: 2, dk: 4, keyInputDim: 8, valueInputDim: 8, biasShape: 'B11S' },
    { B: 1, T: 40, S: 600, H: 2, dk: 8, keyInputDim: 8, valueInputDim: 8, biasShape: 'BHTS', scores: true },
    { B: 1, T: 1, H: 1, dk: 1, biasShape: 'flatTS' },
    { B: 1, T: 300, H: 2, dk: 8, biasShape: 'flatBHTS', causal: true },
    { B: 20, T: 9, H: 2, dk: 8, biasShape: 'HTS', attentionMaskShape: 'TS' },
    { B: 2, T: 3, S: 0, H: 2, dk: 4, keyInputDim: 6, valueInputDim: 6, biasShape: 'BHTS' },
  ] as Case[])('%o', (c) => check(c));
});

describe('empty inputs', () => {
  // An empty batch or query sequence gives an empty output; no keys (S = 0) leaves every query nothing to attend, so
  // each output row is the output bias (zeros without one) and the scores are [B, H, T, 0].
  it.each([
    { B: 0, T: 3, H: 2, dk: 4, scores: true },
    { B: 2, T: 0, H: 2, dk: 4, scores: true },
    { B: 0, T: 5, S: 3, H: 2, dk: 4, keyInputDim: 6, valueInputDim: 7, attentionMaskShape: 'BTS', keyPadding: true },
    { B: 2, T: 0, S: 3, H: 2, dk: 4, keyInputDim: 6, valueInputDim: 7, causal: true, scores: true },
    { B: 2, T: 3, S: 0, H: 2, dk: 4, keyInputDim: 6, valueInputDim: 7, scores: true },
    { B: 3, T: 17, S: 0, H: 3, dk: 5, keyInputDim: 5, valueInputDim: 5, useBias: false },
    { B: 2, T: 3, S: 0, H: 2, dk: 4, keyInputDim: 6, valueInputDim: 6, attentionMaskShape: 'BHTS', keyPadding: true,
      causal: true, scores: true },
    { B: 1, T: 4, S: 0, H: 2, dk: 4, keyInputDim: 8, valueInputDim: 8, attentionMaskShape: 'flatTS' },
  ] as Case[])('%o', (c) => check(c));
});

describe('rows with nothing to attend', () => {
  it('give the output bias and a zero scores row, never NaN', async () => {
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 4 });
    randomizeWeights(mha, 99);
    const bias = mha.getWeights()['output.bias']!.data;
    const B = 2, T = 3, S = 4;
    const query = randomTensor([B, T, 8], 5);
    const value = randomTensor([B, S, 8], 6);
    const keyPaddingMask = new Uint8Array(B * S).fill(1);
    keyPaddingMask.fill(0, S, 2 * S); // batch 1: every key is padding
    const attentionMask = { data: new Uint8Array(T * S).fill(1), shape: [T, S] };
    attentionMask.data.fill(0, S, 2 * S); // query row 1: attends nothing
    for (const run of [
      (o: object) => Promise.resolve(mha.forwardSync(query, o)),
      (o: object) => mha.forward(query, o),
    ]) {
      const r = await run({ value, keyPaddingMask, attentionMask, returnAttentionScores: true });
      const out = r.output.data, scores = r.attentionScores!.data;
      expect(out.every(Number.isFinite)).toBe(true);
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          const empty = b === 1 || t === 1;
          const row = Array.from(out.subarray((b * T + t) * 8, (b * T + t + 1) * 8));
          if (empty) expect(row).toEqual(Array.from(bias));
          else expect(row).not.toEqual(Array.from(bias));
          for (let h = 0; h < 2; h++) {
            const srow = Array.from(scores.subarray(((b * 2 + h) * T + t) * S, ((b * 2 + h) * T + t + 1) * S));
            const sum = srow.reduce((x, y) => x + y, 0);
            expect(sum).toBeCloseTo(empty ? 0 : 1, 5);
            if (empty) expect(srow).toEqual([0, 0, 0, 0]);
          }
        }
      }
    }
  });
});

// One shape for each path through the attention core: tiles with a task per (batch, head) pair, tiles over pairs
// packed first and shared, query by query with a dot product per key, keys as the lanes of vectors (16 of them, or
// one vector's). Every batch has a second item, for the tests below that single one out.
const attentionPaths = [
  { path: 'tiles, a task per pair', B: 8, T: 40, S: 150, H: 4 },
  { path: 'tiles, shared packing', B: 2, T: 40, S: 70, H: 2 },
  { path: 'query by query', B: 2, T: 3, S: 30, H: 2 },
  { path: 'keys as lanes', B: 2, T: 9, S: 12, H: 2 },
  { path: 'keys in one vector', B: 2, T: 6, S: 5, H: 2 },
];

// Padding is often memory never written (Buffer.allocUnsafe): NaN and Inf. A key that keyPaddingMask marks as
// padding, or that attentionMask hides from every query, gets a weight of exactly 0, and 0 * NaN would still be NaN.
describe('what hidden keys hold never reaches the output', () => {
  it.each(attentionPaths)('$path: B=$B T=$T S=$S H=$H', async ({ B, T, S, H }) => {
    const mha = new MultiHeadAttention({ numHeads: H, keyDim: 8, valueInputDim: 12 });
    randomizeWeights(mha, 31);
    const query = randomTensor([B, T, H * 8], 32);
    const value = randomTensor([B, S, 12], 33);
    // Batch item b has its last b + 1 keys padded, and every item's key 1 is hidden by the mask from every query.
    const keyPaddingMask = new Uint8Array(B * S).fill(1);
    for (let b = 0; b < B; b++) keyPaddingMask.fill(0, b * S + S - 1 - b, (b + 1) * S);
    const attentionMask = new Uint8Array(T * S).map((_, i) => (i % S === 1 || (i * 7) % 11 === 0 ? 0 : 1));
    const options = { keyPaddingMask, attentionMask, returnAttentionScores: true };
    const expected = await mha.forward(query, { value, ...options });
    const dirty = new Float32Array(value.data);
    for (let b = 0; b < B; b++) {
      for (let s = 0; s < S; s++) {
        const row = (b * S + s) * 12;
        if (keyPaddingMask[b * S + s] === 0 || s === 1) dirty.fill(s % 2 ? NaN : -Infinity, row, row + 12);
      }
    }
    for (const run of [
      (o: object) => Promise.resolve(mha.forwardSync(query, o)),
      (o: object) => mha.forward(query, o),
    ]) {
      const r = await run({ value: new Tensor(dirty, [B, S, 12]), ...options });
      // A tolerance of 0: equal element by element, as if the padding held the clean values.
      expectClose(r.output.data, expected.output.data, 0);
      expectClose(r.attentionScores!.data, expected.attentionScores!.data, 0, 'attentionScores');
    }
  });
});

// NaN in, NaN out, as PyTorch and Keras give it: a NaN query row, or a NaN key, value or bias entry that a query may
// attend, makes that query's output row NaN, and but for a value its rows of scores. Never a finite row that looks
// like an answer (the output bias, or a NaN key weighted like any other). Every other row is what the same inputs
// give without the NaN.
describe('a NaN in an input reaches the rows that read it', () => {
  // What each row of the output (h null) and of each head's scores should be: all NaN, or 'clean', equal element
  // by element to the run without NaN, or 'either', unchecked (a value hidden from the row but not from every
  // query: 0 times NaN may reach it).
  type Expected = (b: number, t: number, h: number | null) => 'nan' | 'clean' | 'either';
  async function expectNaNRows(mha: MultiHeadAttention, query: Tensor, dirtyQuery: Tensor, options: object,
    dirtyOptions: object, S: number, row: Expected) {
    const [B, T] = query.shape, H = mha.numHeads, E = mha.outputDim;
    for (const scores of [false, true]) {
      const clean = mha.forwardSync(query, { ...options, returnAttentionScores: scores });
      const dirty = { ...options, ...dirtyOptions, returnAttentionScores: scores };
      for (const r of [mha.forwardSync(dirtyQuery, dirty), await mha.forward(dirtyQuery, dirty)]) {
        for (let b = 0; b < B; b++) {
          for (let t = 0; t < T; t++) {
            const rows: [Float32Array, Float32Array, number, number, number | null][] = [
              [r.output.data, clean.output.data, (b * T + t) * E, E, null],
            ];
            for (let h = 0; h < H && scores; h++) {
              rows.push([r.attentionScores!.data, clean.attentionScores!.data, ((b * H + h) * T + t) * S, S, h]);
            }
            for (const [got, want, at, n, h] of rows) {
              const expected = row(b, t, h);
              if (expected === 'either') continue;
              const what = h === null ? 'output' : `scores h${h}`;
              const x = got.subarray(at, at + n);
              if (expected === 'nan') expect(x.every(Number.isNaN), `${what} row (${b}, ${t}) all NaN`).toBe(true);
              else expectClose(x, want.subarray(at, at + n), 0, `${what} row (${b}, ${t})`);
            }
          }
        }
      }
    }
  }

  it.each(attentionPaths)('$path: B=$B T=$T S=$S H=$H', async ({ B, T, S, H }) => {
    const mha = new MultiHeadAttention({ numHeads: H, keyDim: 8, keyInputDim: 10, valueInputDim: 12 });
    randomizeWeights(mha, 41);
    const query = randomTensor([B, T, H * 8], 42);
    const key = randomTensor([B, S, 10], 43);
    const value = randomTensor([B, S, 12], 44);
    // Causal, bottom right: query t sees key s when s <= t + S - T. A NaN query row in the last batch item (its last
    // query, which sees every key), a NaN in key S - 2 of item 0 (in the future of its first queries), a NaN in value
    // 0 of the last item.
    const shift = S - T, nanQuery = T - 1, nanKey = S - 2;
    const dirtyQuery = new Float32Array(query.data);
    dirtyQuery.fill(NaN, ((B - 1) * T + nanQuery) * H * 8, ((B - 1) * T + nanQuery + 1) * H * 8);
    const dirtyKey = new Float32Array(key.data);
    dirtyKey[nanKey * 10 + 3] = NaN;
    const dirtyValue = new Float32Array(value.data);
    dirtyValue[(B - 1) * S * 12 + 5] = NaN;
    await expectNaNRows(mha, query, new Tensor(dirtyQuery, query.shape), { key, value, causal: true },
      { key: new Tensor(dirtyKey, key.shape), value: new Tensor(dirtyValue, value.shape) }, S, (b, t, h) => {
        if ((b === 0 && nanKey <= t + shift) || (b === B - 1 && t === nanQuery)) return 'nan';
        // The NaN value: the output rows that may attend it; scores never read values.
        if (b === B - 1 && h === null) return 0 <= t + shift ? 'nan' : 'either';
        return 'clean';
      });
  });

  // A row with nothing to attend stays the output bias: a NaN value that its tile's other queries attend is weighted
  // by 0 in its column of P V (0 times NaN is NaN), and that column must not reach the output.
  it.each(attentionPaths)('not in a row with nothing to attend ($path)', async ({ B, T, S, H }) => {
    const mha = new MultiHeadAttention({ numHeads: H, keyDim: 8, keyInputDim: 12, valueInputDim: 12 });
    randomizeWeights(mha, 49);
    const query = randomTensor([B, T, H * 8], 50);
    const value = randomTensor([B, S, 12], 51);
    const dirtyValue = new Float32Array(value.data);
    dirtyValue[(S + 3) * 12 + 2] = NaN; // batch item 1, key 3: every query but query 1 attends it
    const attentionMask = { data: new Uint8Array(T * S).fill(1).fill(0, S, 2 * S), shape: [T, S] };
    const dirty = { value: new Tensor(dirtyValue, value.shape) };
    await expectNaNRows(mha, query, query, { key: value, value, attentionMask }, dirty, S,
      (b, t, h) => (b === 1 && t !== 1 && h === null ? 'nan' : 'clean'));
  });

  it.each([
    { B: 2, T: 7, S: 6, H: 2 },
    { B: 1, T: 40, S: 70, H: 2 },
  ])('in an attentionBias entry: B=$B T=$T S=$S H=$H', async ({ B, T, S, H }) => {
    const mha = new MultiHeadAttention({ numHeads: H, keyDim: 8, keyInputDim: 10, valueInputDim: 10 });
    randomizeWeights(mha, 45);
    const query = randomTensor([B, T, H * 8], 46);
    const value = randomTensor([B, S, 10], 47);
    const bias = randomArray(H * T * S, 48);
    const dirtyBias = new Float32Array(bias);
    dirtyBias[(1 * T + 2) * S + S - 1] = NaN; // head 1, query 2: every batch item
    const shape = [1, H, T, S];
    await expectNaNRows(mha, query, query, { value, attentionBias: { data: bias, shape } },
      { attentionBias: { data: dirtyBias, shape } }, S, (_b, t, h) => (t === 2 && h !== 0 ? 'nan' : 'clean'));
  });
});

describe('the seed tutorials', () => {
  it('batch 64, length 5, d_model 512, 8 heads gives [64, 5, 512]', async () => {
    const mha = new MultiHeadAttention({ numHeads: 8, keyDim: 64 });
    const x = randomTensor([64, 5, 512], 7);
    const { output } = await mha.forward(x, { value: x, key: x });
    expect(output.shape).toEqual([64, 5, 512]);
    expect(output.data.every(Number.isFinite)).toBe(true);
  });

  it('num_heads 2, key_dim 2, target [8, 16], source [4, 16] gives [B, 8, 16] and scores [B, 2, 8, 4]', async () => {
    // Keras infers the feature size from the first input; our contract takes it as queryDim (default numHeads * keyDim).
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 2, queryDim: 16 });
    const target = randomTensor([3, 8, 16], 8);
    const source = randomTensor([3, 4, 16], 9);
    const r = await mha.forward(target, { value: source, returnAttentionScores: true });
    expect(r.output.shape).toEqual([3, 8, 16]);
    expect(r.attentionScores.shape).toEqual([3, 2, 8, 4]);
    const ref = referenceAttention({
      B: 3, T: 8, S: 4, H: 2, dk: 2, dv: 2, queryDim: 16, keyInputDim: 16, valueInputDim: 16, outputDim: 16,
      query: target.data, key: source.data, value: source.data, weights: refWeights(mha),
    });
    expectClose(r.output.data, ref.output);
    expectClose(r.attentionScores.data, ref.scores, 1e-4, 'attentionScores');
  });
});

describe('input buffers', () => {
  it('reads views with a byteOffset and SharedArrayBuffer-backed arrays, and never writes inputs', async () => {
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 3, keyInputDim: 5, valueInputDim: 4 });
    randomizeWeights(mha, 11);
    const B = 2, T = 3, S = 5;
    const q = randomTensor([B, T, 6], 12), k = randomTensor([B, S, 5], 13), v = randomTensor([B, S, 4], 14);
    const expected = mha.forwardSync(q, { key: k, value: v }).output.data;
    // The same values at an offset inside larger buffers, one of them shared.
    const place = (src: Float32Array, shared: boolean) => {
      const buf = shared ? new SharedArrayBuffer((src.length + 7) * 4) : new ArrayBuffer((src.length + 7) * 4);
      const view = new Float32Array(buf, 12, src.length);
      view.set(src);
      new Float32Array(buf, 0, 3).fill(Number.NaN);
      return view;
    };
    for (const shared of [false, true]) {
      const query = new Tensor(place(q.data, shared), [B, T, 6]);
      const key = new Tensor(place(k.data, !shared), [B, S, 5]);
      const value = new Tensor(place(v.data, shared), [B, S, 4]);
      const before = [query, key, value].map((t) => Array.from(t.data));
      expect(Array.from(mha.forwardSync(query, { key, value }).output.data)).toEqual(Array.from(expected));
      expect(Array.from((await mha.forward(query, { key, value })).output.data)).toEqual(Array.from(expected));
      expect([query, key, value].map((t) => Array.from(t.data))).toEqual(before);
    }
  });

  it('fills a caller-owned out, plain or shared, with an offset', async () => {
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 4 });
    const q = randomTensor([2, 3, 8], 15);
    const expected = Array.from(mha.forwardSync(q).output.data);
    for (const buffer of [new ArrayBuffer(4 * 60), new SharedArrayBuffer(4 * 60)]) {
      const out = new Float32Array(buffer, 8, 48).fill(Number.NaN);
      const r = await mha.forward(q, { out });
      expect(r.output.data).toBe(out);
      expect(Array.from(out)).toEqual(expected);
      expect(new Float32Array(buffer, 0, 2).every((x) => x === 0)).toBe(true); // nothing written before it
      expect(new Float32Array(buffer, 8 + 48 * 4).every((x) => x === 0)).toBe(true); // or after it
    }
  });

  it('copies plain inputs before queuing, so the caller may reuse them at once', async () => {
    const mha = new MultiHeadAttention({ numHeads: 4, keyDim: 16 }); // large enough to be queued, not run inline
    const q = randomTensor([2, 120, 64], 16);
    const expected = Array.from(mha.forwardSync(q).output.data);
    const pending = mha.forward(q);
    q.data.fill(123); // overwritten while the call is queued
    expect(Array.from((await pending).output.data)).toEqual(expected);
  });

  it('judges a buffer shared by the buffer itself, not by a `buffer` getter a subclass overrides', async () => {
    class ClaimsShared extends Float32Array {
      override get buffer(): ArrayBufferLike { return new SharedArrayBuffer(8); }
    }
    const realBuffer = (a: Float32Array) =>
      Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'buffer')!.get!.call(a);
    const mha = new MultiHeadAttention({ numHeads: 4, keyDim: 16 }); // large enough to be queued, not run inline
    const q = randomTensor([2, 120, 64], 16);
    const expected = Array.from(mha.forwardSync(q).output.data);
    // An input: copied before queuing like any other in an ordinary ArrayBuffer.
    const data = new ClaimsShared(q.data);
    const pending = mha.forward({ data, shape: q.shape });
    data.fill(123); // overwritten while the call is queued
    expect(Array.from((await pending).output.data)).toEqual(expected);
    // An `out`: not written in place by the pool, so a buffer detached meanwhile is reported, not written into.
    const out = new ClaimsShared(expected.length);
    const queued = mha.forward(q, { out });
    const moved = structuredClone(realBuffer(out), { transfer: [realBuffer(out)] });
    await expect(queued).rejects.toThrow(/Expected an attached Float32Array of length 15360 for out/);
    expect(new Float32Array(moved).every((x) => x === 0)).toBe(true);
  });

  it('copies queued inputs exactly from any offset in a page, into buffers reused between calls', async () => {
    // The copy lands at the source's offset in a 4 KiB page, in a buffer kept from an earlier call: a wrong offset
    // reads past the copy or before it.
    const mha = new MultiHeadAttention({ numHeads: 4, keyDim: 16 }); // large enough to be queued, not run inline
    randomizeWeights(mha, 20);
    const q = randomTensor([2, 120, 64], 21);
    const expected = Array.from(mha.forwardSync(q).output.data);
    for (const floats of [0, 1, 3, 4, 255, 1023, 1024]) {
      const buffer = new ArrayBuffer((q.data.length + floats + 1024) * 4);
      new Float32Array(buffer).fill(Number.NaN);
      const data = new Float32Array(buffer, floats * 4, q.data.length);
      data.set(q.data);
      const pending = mha.forward({ data, shape: q.shape });
      data.fill(123); // overwritten while the call is queued: only the copy may be read
      expect(Array.from((await pending).output.data), `at ${floats * 4} bytes`).toEqual(expected);
    }
  });

  it('copies a plain attention bias before queuing too', async () => {
    const mha = new MultiHeadAttention({ numHeads: 4, keyDim: 16 }); // large enough to be queued, not run inline
    randomizeWeights(mha, 17);
    const q = randomTensor([2, 120, 64], 18);
    const attentionBias = randomArray(2 * 4 * 120 * 120, 19, 3);
    const expected = Array.from(mha.forwardSync(q, { attentionBias }).output.data);
    const pending = mha.forward(q, { attentionBias });
    attentionBias.fill(-Infinity); // overwritten while the call is queued
    expect(Array.from((await pending).output.data)).toEqual(expected);
  });
});

// Large outputs and scores are allocated without a zero-fill (lib/alloc.ts): the computation must write every
// element. Here that memory is poisoned with NaN (bytes 0xff) so that an element left unwritten fails the check.
describe('outputs and scores allocated without a zero-fill', () => {
  let unfilled: MockInstance<typeof Buffer.allocUnsafeSlow>;
  beforeAll(() => {
    unfilled = vi.spyOn(Buffer, 'allocUnsafeSlow').mockImplementation((size: number) => Buffer.alloc(size, 0xff));
  });
  afterAll(() => unfilled.mockRestore());

  it('are written whole: tiles, causal, padded keys, a batch item with no real key', async () => {
    await check({ B: 2, T: 130, S: 150, H: 4, dk: 16, keyInputDim: 40, valueInputDim: 40, causal: true,
      keyLengths: [0, 97], scores: true });
    expect(unfilled).toHaveBeenCalled();
  });
  it('are written whole: short sequences query by query, with a mask', async () => {
    unfilled.mockClear();
    await check({ B: 3, T: 700, S: 9, H: 4, dk: 16, keyInputDim: 24, valueInputDim: 24, attentionMaskShape: 'BTS',
      scores: true });
    expect(unfilled).toHaveBeenCalled();
  });
  it('are written whole: self-attention, async without out', async () => {
    unfilled.mockClear();
    await check({ B: 1, T: 257, H: 2, dk: 32, scores: true });
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 32, seed: 3 });
    const query = randomTensor([1, 257, 64], 77);
    const expected = mha.forwardSync(query, { out: poisoned(257 * 64) }).output.data;
    const { output } = await mha.forward(query);
    expect(Array.from(output.data)).toEqual(Array.from(expected));
    expect(output.data.buffer.byteLength).toBe(257 * 64 * 4); // a buffer of its own, not a slice of a pool
    expect(unfilled).toHaveBeenCalled();
  });
});
