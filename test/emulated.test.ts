// The layer under emulated older CPUs (qemu-x86_64, installed by .ci/run): the binary loads, the dispatch
// chooses the path that CPU has, and the result matches the float64 reference.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MultiHeadAttention } from '../dist/index.js';
import { referenceAttention } from './reference';
import { expectClose, randomizeWeights, randomMask, randomTensor, refWeights } from './helpers';

describe.runIf(process.arch === 'x64')('under qemu-x86_64', () => {
  it.each([
    ['Nehalem', 'scalar'],
    ['Haswell', 'avx2'],
  ])('-cpu %s runs the %s kernels correctly', (cpu, isa) => {
    const options = { numHeads: 3, keyDim: 11, queryDim: 40, valueInputDim: 35, outputDim: 33 };
    const mha = new MultiHeadAttention(options);
    randomizeWeights(mha, 1);
    const B = 2, T = 17, S = 29;
    const query = randomTensor([B, T, 40], 2), value = randomTensor([B, S, 35], 3);
    const keyPaddingMask = randomMask(B * S, 4);
    const weights = Object.fromEntries(Object.entries(mha.getWeights()).map(([k, t]) => [k, Array.from(t!.data)]));
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'fastmha-')), 'case.json');
    const plain = (t: { data: Float32Array; shape: readonly number[] }) => ({ data: Array.from(t.data), shape: t.shape });
    writeFileSync(file, JSON.stringify({ options, weights, query: plain(query), value: plain(value), keyPaddingMask: Array.from(keyPaddingMask) }));
    const fixture = path.join(__dirname, 'fixtures', 'emulated_forward.js');
    const result = JSON.parse(execFileSync('qemu-x86_64', ['-cpu', cpu, process.execPath, fixture, file], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }));
    expect(result.isa).toBe(isa);
    const ref = referenceAttention({
      B, T, S, H: 3, dk: 11, dv: 11, queryDim: 40, keyInputDim: 35, valueInputDim: 35, outputDim: 33,
      query: query.data, key: value.data, value: value.data, weights: refWeights(mha),
      allowed: (b, _h, t, s) => keyPaddingMask[b * S + s] !== 0 && s <= t + (S - T),
    });
    expectClose(result.output, ref.output);
  }, 120_000);
});
