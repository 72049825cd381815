import { describe, expect, it } from 'vitest';
import { MultiHeadAttention, Tensor } from '../dist/index.js';
import { expectClose, randomArray, randomTensor } from './helpers';

describe('seeded initialization (Keras defaults)', () => {
  it('is glorot-uniform within Keras limits, biases zero, reproducible per seed', () => {
    const dims = { numHeads: 4, keyDim: 8, valueDim: 6, queryDim: 20, keyInputDim: 12, valueInputDim: 10, outputDim: 7 };
    const a = new MultiHeadAttention({ ...dims, seed: 42 }).getWeights();
    const b = new MultiHeadAttention({ ...dims, seed: 42 }).getWeights();
    const c = new MultiHeadAttention({ ...dims, seed: 43 }).getWeights();
    for (const name of Object.keys(a) as (keyof typeof a)[]) {
      expect(Array.from(a[name]!.data), name).toEqual(Array.from(b[name]!.data));
    }
    // Keras fans for a rank-3 kernel [d0, d1, d2]: fan_in = d0*d1, fan_out = d0*d2.
    const limits = {
      'query.kernel': Math.sqrt(6 / (20 * 4 + 20 * 8)),
      'key.kernel': Math.sqrt(6 / (12 * 4 + 12 * 8)),
      'value.kernel': Math.sqrt(6 / (10 * 4 + 10 * 6)),
      'output.kernel': Math.sqrt(6 / (4 * 6 + 4 * 7)),
    };
    for (const [name, limit] of Object.entries(limits) as [keyof typeof a, number][]) {
      const w = a[name]!.data;
      const max = w.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      expect(max, name).toBeLessThanOrEqual(limit);
      expect(max, name).toBeGreaterThan(limit * 0.8); // spread over the whole range, not a constant
      const mean = w.reduce((s, x) => s + x, 0) / w.length;
      expect(Math.abs(mean), name).toBeLessThan(limit * 0.2);
      expect(Array.from(w)).not.toEqual(Array.from(c[name]!.data));
    }
    for (const name of ['query.bias', 'key.bias', 'value.bias', 'output.bias'] as const) {
      expect(a[name]!.data.every((x) => x === 0), name).toBe(true);
    }
    expect(a['query.kernel']!.shape).toEqual([20, 4, 8]);
    expect(a['query.bias']!.shape).toEqual([4, 8]);
    expect(a['key.kernel']!.shape).toEqual([12, 4, 8]);
    expect(a['value.kernel']!.shape).toEqual([10, 4, 6]);
    expect(a['value.bias']!.shape).toEqual([4, 6]);
    expect(a['output.kernel']!.shape).toEqual([4, 6, 7]);
    expect(a['output.bias']!.shape).toEqual([7]);
  });

  it('has no biases when useBias is false', () => {
    const w = new MultiHeadAttention({ numHeads: 2, keyDim: 3, useBias: false }).getWeights();
    expect(Object.keys(w).sort()).toEqual(['key.kernel', 'output.kernel', 'query.kernel', 'value.kernel']);
  });
});

describe('setWeights / getWeights', () => {
  it('round-trips tensors and flat arrays, copying them', () => {
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 5, outputDim: 4 });
    const given = Object.fromEntries(
      Object.entries(mha.getWeights()).map(([name, t], i) => [name, new Tensor(randomArray(t!.size, i), t!.shape)]),
    );
    mha.setWeights(given);
    const got = mha.getWeights();
    for (const [name, t] of Object.entries(given)) {
      expect(Array.from(got[name as keyof typeof got]!.data)).toEqual(Array.from(t.data));
      t.data.fill(0); // the layer holds its own copy
    }
    expect(Array.from(mha.getWeights()['query.kernel']!.data)).toEqual(Array.from(got['query.kernel']!.data));
    const flat = Object.fromEntries(Object.entries(got).map(([n, t]) => [n, t!.data]));
    mha.setWeights(flat);
    expect(Array.from(mha.getWeights()['output.bias']!.data)).toEqual(Array.from(got['output.bias']!.data));
  });

  it('changes the output', () => {
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 3, seed: 1 });
    const x = randomTensor([1, 4, 6], 3);
    const before = Array.from(mha.forwardSync(x).output.data);
    const w = mha.getWeights();
    w['output.bias']!.data.fill(1);
    mha.setWeights(w);
    expectClose(mha.forwardSync(x).output.data, before.map((v) => v + 1), 1e-6);
  });
});

// torch.nn.MultiheadAttention's forward from its own definition: y = x Wᵀ + b per projection, heads as
// consecutive slices of embedDim, softmax(q kᵀ / sqrt(headDim)) v, then out_proj. Float64, naive loops.
function torchReference(
  sd: Record<string, Float32Array>, E: number, H: number, kdim: number, vdim: number, bias: boolean,
  q: Float32Array, k: Float32Array, v: Float32Array, B: number, T: number, S: number,
): Float64Array {
  const hd = E / H;
  const linear = (x: Float32Array, rows: number, inDim: number, w: Float32Array, wRow: number, b?: Float32Array, bOff = 0) => {
    const y = new Float64Array(rows * E);
    for (let r = 0; r < rows; r++) {
      for (let o = 0; o < E; o++) {
        let acc = b ? b[bOff + o] : 0;
        for (let i = 0; i < inDim; i++) acc += x[r * inDim + i] * w[(wRow + o) * inDim + i];
        y[r * E + o] = acc;
      }
    }
    return y;
  };
  const packed = 'in_proj_weight' in sd;
  const ib = bias ? sd['in_proj_bias'] : undefined;
  const Q = linear(q, B * T, E, packed ? sd['in_proj_weight'] : sd['q_proj_weight'], 0, ib, 0);
  const K = linear(k, B * S, kdim, packed ? sd['in_proj_weight'] : sd['k_proj_weight'], packed ? E : 0, ib, E);
  const V = linear(v, B * S, vdim, packed ? sd['in_proj_weight'] : sd['v_proj_weight'], packed ? 2 * E : 0, ib, 2 * E);
  const ctx = new Float32Array(B * T * E);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let t = 0; t < T; t++) {
    const logits = Array.from({ length: S }, (_, s) => {
      let d = 0;
      for (let j = 0; j < hd; j++) d += Q[(b * T + t) * E + h * hd + j] * K[(b * S + s) * E + h * hd + j];
      return d / Math.sqrt(hd);
    });
    const max = Math.max(...logits);
    const e = logits.map((x) => Math.exp(x - max));
    const sum = e.reduce((x, y) => x + y, 0);
    for (let j = 0; j < hd; j++) {
      let acc = 0;
      for (let s = 0; s < S; s++) acc += (e[s] / sum) * V[(b * S + s) * E + h * hd + j];
      ctx[(b * T + t) * E + h * hd + j] = acc;
    }
  }
  return linear(ctx, B * T, E, sd['out_proj.weight'], 0, bias ? sd['out_proj.bias'] : undefined, 0);
}

describe('MultiHeadAttention.fromTorch', () => {
  it.each([
    { E: 12, H: 3, kdim: 12, vdim: 12, bias: true },
    { E: 12, H: 3, kdim: 12, vdim: 12, bias: false },
    { E: 8, H: 2, kdim: 5, vdim: 7, bias: true },
    { E: 6, H: 1, kdim: 3, vdim: 6, bias: false },
  ])('matches torch semantics: %o', async ({ E, H, kdim, vdim, bias }) => {
    const separate = kdim !== E || vdim !== E;
    const sd: Record<string, Float32Array> = separate
      ? { q_proj_weight: randomArray(E * E, 1, 0.4), k_proj_weight: randomArray(E * kdim, 2, 0.4), v_proj_weight: randomArray(E * vdim, 3, 0.4) }
      : { in_proj_weight: randomArray(3 * E * E, 4, 0.4) };
    sd['out_proj.weight'] = randomArray(E * E, 5, 0.4);
    if (bias) {
      sd['in_proj_bias'] = randomArray(3 * E, 6, 0.4);
      sd['out_proj.bias'] = randomArray(E, 7, 0.4);
    }
    const mha = MultiHeadAttention.fromTorch(sd, { numHeads: H, embedDim: E, kdim, vdim, bias });
    expect(mha.useBias).toBe(bias);
    const B = 2, T = 3, S = 5;
    const q = randomArray(B * T * E, 8), k = randomArray(B * S * kdim, 9), v = randomArray(B * S * vdim, 10);
    const r = await mha.forward(new Tensor(q, [B, T, E]), { key: new Tensor(k, [B, S, kdim]), value: new Tensor(v, [B, S, vdim]) });
    expectClose(r.output.data, torchReference(sd, E, H, kdim, vdim, bias, q, k, v, B, T, S));
  });

  it('accepts torch-shaped tensors and checks their shapes', () => {
    const E = 4;
    const sd = {
      in_proj_weight: { data: randomArray(3 * E * E, 1), shape: [3 * E, E] },
      in_proj_bias: { data: randomArray(3 * E, 2), shape: [3 * E] },
      'out_proj.weight': { data: randomArray(E * E, 3), shape: [E, E] },
      'out_proj.bias': { data: randomArray(E, 4), shape: [E] },
    };
    expect(MultiHeadAttention.fromTorch(sd, { numHeads: 2, embedDim: E }).outputDim).toBe(E);
    expect(() => MultiHeadAttention.fromTorch({ ...sd, in_proj_weight: { data: sd.in_proj_weight.data, shape: [E, 3 * E] } },
      { numHeads: 2, embedDim: E })).toThrow(/\[12, 4\] for stateDict\["in_proj_weight"\].shape but received \[4, 12\]/);
  });
});
