import { expect } from 'vitest';
import { MultiHeadAttention, Tensor, type Weights } from '../dist/index.js';
import type { RefWeights } from './reference';

// Fresh inputs every run; the seed is printed with any failure so a run can be repeated with TEST_SEED.
export const runSeed = Number(process.env.TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));

export function rng(seed: number): () => number {
  let s = (seed ^ runSeed) >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const next = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (next() * 2 - 1) * scale;
  return a;
}

export function randomTensor(shape: number[], seed: number, scale = 1): Tensor {
  return new Tensor(randomArray(shape.reduce((a, b) => a * b, 1), seed, scale), shape);
}

export function randomMask(n: number, seed: number, density = 0.7): Uint8Array {
  const next = rng(seed);
  return Uint8Array.from({ length: n }, () => (next() < density ? 1 : 0));
}

/** A Float32Array of n NaNs: any element the computation leaves unwritten fails the comparison. */
export function poisoned(n: number): Float32Array {
  return new Float32Array(n).fill(Number.NaN);
}

/** max |a - e| / (1 + |e|) <= tol, and no NaN anywhere. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 2e-4, what = 'output'): void {
  expect(actual.length, `${what} length`).toBe(expected.length);
  let worst = 0;
  let where = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i]));
    if (!(err <= worst)) {
      worst = Number.isNaN(err) ? Infinity : err;
      where = i;
    }
  }
  expect(worst, `${what}[${where}] = ${actual[where]}, reference ${expected[where]} (TEST_SEED=${runSeed})`).toBeLessThanOrEqual(tol);
}

/** The layer's weights in the reference's form. */
export function refWeights(mha: MultiHeadAttention): RefWeights {
  const w: Weights = mha.getWeights();
  return {
    qk: w['query.kernel']!.data,
    qb: w['query.bias']?.data,
    kk: w['key.kernel']!.data,
    kb: w['key.bias']?.data,
    vk: w['value.kernel']!.data,
    vb: w['value.bias']?.data,
    ok: w['output.kernel']!.data,
    ob: w['output.bias']?.data,
  };
}

/** Random weights (biases too, so a bias that is dropped shows), set on the layer. */
export function randomizeWeights(mha: MultiHeadAttention, seed: number): void {
  const w = mha.getWeights();
  const next: Record<string, Float32Array> = {};
  let i = 0;
  for (const [name, t] of Object.entries(w)) next[name] = randomArray(t!.data.length, seed + i++, 0.3);
  mha.setWeights(next);
}
