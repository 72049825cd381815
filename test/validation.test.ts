import { describe, expect, it } from 'vitest';
import { MultiHeadAttention, setThreads, Tensor } from '../dist/index.js';
import { binding, positional } from '../dist/native.js';
import { randomTensor } from './helpers';

const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 4, keyInputDim: 6, valueInputDim: 5 }); // queryDim 8
const query = randomTensor([2, 3, 8], 1);
const value = randomTensor([2, 4, 5], 2);
const key = randomTensor([2, 4, 6], 3);

// forward must reject, never throw; forwardSync throws the same error.
async function expectBoth(options: object, type: ErrorConstructor, message: RegExp, q: unknown = query) {
  expect(() => mha.forwardSync(q as Tensor, options)).toThrow(type);
  expect(() => mha.forwardSync(q as Tensor, options)).toThrow(message);
  let promise: Promise<unknown> | undefined;
  expect(() => { promise = mha.forward(q as Tensor, options); }).not.toThrow();
  await expect(promise).rejects.toThrow(type);
  await expect(promise).rejects.toThrow(message);
}

describe('constructor options', () => {
  it.each([
    [undefined, TypeError, /Expected an object with numHeads and keyDim for options but received undefined/],
    [{ keyDim: 4 }, TypeError, /Expected a positive integer for numHeads but received undefined/],
    [{ numHeads: 0, keyDim: 4 }, RangeError, /Expected an integer between 1 and \d+ for numHeads but received 0/],
    [{ numHeads: 1.5, keyDim: 4 }, RangeError, /for numHeads but received 1.5/],
    [{ numHeads: 2, keyDim: '4' }, TypeError, /Expected a positive integer for keyDim but received "4"/],
    [{ numHeads: 2, keyDim: 4, valueDim: -1 }, RangeError, /for valueDim but received -1/],
    [{ numHeads: 2, keyDim: 4, outputDim: NaN }, RangeError, /for outputDim but received NaN/],
    [{ numHeads: 2, keyDim: 4, useBias: 1 }, TypeError, /Expected a boolean for useBias but received 1/],
    [{ numHeads: 2, keyDim: 4, seed: 0.5 }, RangeError, /Expected a safe integer for seed/],
    [{ numHeads: 2, keyDim: 4, seed: 'x' }, TypeError, /Expected an integer for seed/],
    [{ numHeads: 2, keyDim: 4, threads: 0 }, RangeError, /for threads but received 0/],
    [{ numHeads: 2, keyDim: 4, numheads: 3 }, TypeError, /Unknown option "numheads"/],
    [{ numHeads: 2 ** 24 + 1, keyDim: 4 }, RangeError, /for numHeads/],
    [{ numHeads: 4096, keyDim: 4096 }, RangeError,
      /Expected at most 4294967296 elements \(the most a Float32Array holds\) for query.kernel but received shape \[16777216, 4096, 4096\] from the options \(281474976710656 elements\)/],
  ])('%o', (options, type, message) => {
    expect(() => new MultiHeadAttention(options as never)).toThrow(type);
    expect(() => new MultiHeadAttention(options as never)).toThrow(message);
  });
});

describe('forward arguments', () => {
  it.each([
    ['query not a tensor', {}, TypeError, /Expected a tensor \{ data: Float32Array, shape: \[B, T, 8\] .*for query but received Float32Array of length 48/, query.data],
    ['query data not float32', {}, TypeError, /Expected a Float32Array for query.data but received Float64Array of length 48/, { data: new Float64Array(48), shape: [2, 3, 8] }],
    ['query of rank 2', {}, RangeError, /Expected \[B, T, 8\] \(queryDim 8\) for query.shape but received \[6, 8\]/, { data: query.data, shape: [6, 8] }],
    ['query feature size', {}, RangeError, /Expected \[B, T, 8\] .* for query.shape but received \[2, 4, 6\]/, { data: query.data, shape: [2, 4, 6] }],
    ['query negative length', {}, RangeError, /for query.shape but received \[2, -1, 8\]/, { data: new Float32Array(0), shape: [2, -1, 8] }],
    ['query fractional length', {}, RangeError, /for query.shape but received \[2, 1.5, 8\]/, { data: new Float32Array(24), shape: [2, 1.5, 8] }],
    ['query zero features', {}, RangeError, /Expected \[B, T, 8\] .* for query.shape but received \[2, 3, 0\]/, { data: new Float32Array(0), shape: [2, 3, 0] }],
    ['query data length', {}, RangeError, /Expected 48 elements for shape \[2, 3, 8\] for query.data but received length 47/, { data: new Float32Array(47), shape: [2, 3, 8] }],
    ['value batch', { value: randomTensor([3, 4, 5], 4) }, RangeError, /Expected \[2, S, 5\] .* for value.shape but received \[3, 4, 5\]/],
    ['value features', { value: randomTensor([2, 4, 6], 4) }, RangeError, /for value.shape but received \[2, 4, 6\]/],
    ['key length differs from value', { value, key: randomTensor([2, 5, 6], 5) }, RangeError, /Expected \[2, 4, 6\] .* for key.shape but received \[2, 5, 6\]/],
    ['key features', { value, key: randomTensor([2, 4, 5], 5) }, RangeError, /Expected \[2, 4, 6\] .* for key.shape but received \[2, 4, 5\]/],
    ['self-attention with different input sizes', {}, RangeError, /for value.shape but received \[2, 3, 8\]/],
    ['attentionMask type', { value, key, attentionMask: new Int8Array(12) }, TypeError, /Expected a Uint8Array or \{ data: Uint8Array, shape \} for attentionMask but received Int8Array of length 12/],
    ['attentionMask boolean array', { value, key, attentionMask: [true] }, TypeError, /for attentionMask but received an array of length 1/],
    ['attentionMask length', { value, key, attentionMask: new Uint8Array(13) }, RangeError, /\[3, 4\], \[2, 3, 4\] or \[2, 2, 3, 4\] \(length 12, 24 or 48\) for attentionMask but received length 13/],
    ['attentionMask shape', { value, key, attentionMask: { data: new Uint8Array(12), shape: [4, 3] } }, RangeError, /for attentionMask.shape but received \[4, 3\]/],
    ['attentionMask broadcast of S', { value, key, attentionMask: { data: new Uint8Array(3), shape: [3, 1] } }, RangeError, /any dimension but the last may be 1 for attentionMask.shape but received \[3, 1\]/],
    ['attentionMask data vs shape', { value, key, attentionMask: { data: new Uint8Array(11), shape: [3, 4] } }, RangeError, /Expected 12 elements for shape \[3, 4\] for attentionMask.data but received length 11/],
    ['attentionBias type', { value, key, attentionBias: new Uint8Array(12) }, TypeError, /Expected a Float32Array or \{ data: Float32Array, shape \} for attentionBias but received Uint8Array of length 12/],
    ['attentionBias length', { value, key, attentionBias: new Float32Array(13) }, RangeError, /Expected a Float32Array of shape .* \(length 12, 24 or 48\) for attentionBias but received length 13/],
    ['attentionBias shape', { value, key, attentionBias: { data: new Float32Array(12), shape: [4, 3] } }, RangeError, /for attentionBias.shape but received \[4, 3\]/],
    ['keyPaddingMask length', { value, key, keyPaddingMask: new Uint8Array(7) }, RangeError, /shape \[B, S\] = \[2, 4\] \(length 8\) for keyPaddingMask but received length 7/],
    ['keyPaddingMask shape', { value, key, keyPaddingMask: { data: new Uint8Array(8), shape: [4, 2] } }, RangeError, /Expected \[2, 4\] for keyPaddingMask.shape but received \[4, 2\]/],
    ['keyPaddingMask type', { value, key, keyPaddingMask: new Float32Array(8) }, TypeError, /for keyPaddingMask but received Float32Array/],
    ['causal', { value, key, causal: 'yes' }, TypeError, /Expected a boolean for causal but received "yes"/],
    ['returnAttentionScores', { value, key, returnAttentionScores: 1 }, TypeError, /for returnAttentionScores but received 1/],
    ['out type', { value, key, out: new Float64Array(48) }, TypeError, /Expected a Float32Array for out but received Float64Array/],
    ['out length', { value, key, out: new Float32Array(47) }, RangeError, /Expected a Float32Array of shape \[2, 3, 8\] \(length 48\) for out but received length 47/],
    ['signal', { value, key, signal: {} }, TypeError, /Expected an AbortSignal for signal/],
    ['unknown option', { value, key, mask: new Uint8Array(12) }, TypeError, /Unknown option "mask" in forward options/],
  ])('%s', (_what, options, type, message, q) => expectBoth(options, type as ErrorConstructor, message as RegExp, q));

  it('scores or an output longer than a typed array holds, before any work', async () => {
    const wide = new MultiHeadAttention({ numHeads: 64, keyDim: 1, queryDim: 1, outputDim: 4097 });
    const q = new Tensor(new Float32Array(8193), [1, 8193, 1]);
    const scores = /Expected at most 4294967296 elements \(the most a Float32Array holds\) for attentionScores but received shape \[1, 64, 8193, 8193\] \(4296015936 elements\)\. Without returnAttentionScores/;
    expect(() => wide.forwardSync(q, { returnAttentionScores: true })).toThrow(scores);
    await expect(wide.forward(q, { returnAttentionScores: true })).rejects.toThrow(RangeError);
    const long = new Tensor(new Float32Array(2 ** 20), [1, 2 ** 20, 1]);
    expect(() => wide.forwardSync(long)).toThrow(RangeError);
    expect(() => wide.forwardSync(long)).toThrow(/for output but received shape \[1, 1048576, 4097\] \(4296015872 elements\)$/);
    wide.dispose();
  });

  it('options not an object', async () => {
    await expectBoth(null as never, TypeError, /Expected an object for options but received null/);
  });
});

describe('weights', () => {
  it('setWeights checks names, types and shapes', () => {
    const m = new MultiHeadAttention({ numHeads: 2, keyDim: 3 });
    const w = m.getWeights();
    const { ['key.bias']: _omit, ...missing } = w;
    expect(() => m.setWeights(missing)).toThrow(/Expected a Float32Array or tensor of shape \[2, 3\] for weights\["key.bias"\] but received undefined/);
    expect(() => m.setWeights({ ...w, 'query.kernel': new Tensor(new Float32Array(36), [6, 6]) })).toThrow(RangeError);
    expect(() => m.setWeights({ ...w, 'query.kernel': new Tensor(new Float32Array(36), [6, 6]) })).toThrow(/Expected \[6, 2, 3\] for weights\["query.kernel"\].shape but received \[6, 6\]/);
    expect(() => m.setWeights({ ...w, 'output.bias': new Float32Array(5) })).toThrow(/Expected 6 elements \(shape \[6\]\) for weights\["output.bias"\] but received length 5/);
    expect(() => m.setWeights({ ...w, 'output.bias': [1, 2] as never })).toThrow(TypeError);
    expect(() => m.setWeights({ ...w, extra: w['query.bias'] } as never)).toThrow(/Unexpected weight "extra"/);
    const noBias = new MultiHeadAttention({ numHeads: 2, keyDim: 3, useBias: false });
    expect(() => noBias.setWeights(w)).toThrow(/Unexpected weight "query.bias" \(the layer has useBias: false\)/);
    expect(() => m.setWeights(null as never)).toThrow(TypeError);
  });

  it('fromTorch checks its options and state_dict', () => {
    const E = 4;
    const sd = { in_proj_weight: new Float32Array(3 * E * E), in_proj_bias: new Float32Array(3 * E), 'out_proj.weight': new Float32Array(E * E), 'out_proj.bias': new Float32Array(E) };
    expect(() => MultiHeadAttention.fromTorch(sd, { numHeads: 3, embedDim: E })).toThrow(/Expected a multiple of numHeads \(3\) for embedDim but received 4/);
    expect(() => MultiHeadAttention.fromTorch(sd, { numHeads: 2, embedDim: E, kdim: 3 })).toThrow(/pass q_proj_weight, k_proj_weight and v_proj_weight/);
    expect(() => MultiHeadAttention.fromTorch({ ...sd, bias_k: new Float32Array(E) }, { numHeads: 2, embedDim: E })).toThrow(/add_bias_kv is not supported/);
    expect(() => MultiHeadAttention.fromTorch(sd, { numHeads: 2, embedDim: E, bias: false })).toThrow(/in_proj_bias.* given but bias is false/);
    const { in_proj_bias: _b, ...noBias } = sd;
    expect(() => MultiHeadAttention.fromTorch(noBias, { numHeads: 2, embedDim: E })).toThrow(/Expected a Float32Array or tensor of shape \[12\] for stateDict\["in_proj_bias"\] but received undefined/);
    expect(() => MultiHeadAttention.fromTorch(sd, { numHeads: 2, embedDim: E, dim: 3 } as never)).toThrow(/Unknown option "dim"/);
  });
});

describe('lifetime and process-wide settings', () => {
  it('a disposed layer throws, and its forward rejects', async () => {
    const m = new MultiHeadAttention({ numHeads: 1, keyDim: 2 });
    m.dispose();
    expect(() => m.forwardSync(randomTensor([1, 1, 2], 1))).toThrow(/has been disposed/);
    await expect(m.forward(randomTensor([1, 1, 2], 1))).rejects.toThrow(/has been disposed/);
    expect(() => m.getWeights()).toThrow(/has been disposed/);
    expect(() => m.setWeights({})).toThrow(/has been disposed/);
    m.dispose(); // twice is harmless
  });

  it('setThreads checks its argument', () => {
    expect(() => setThreads(0)).toThrow(RangeError);
    expect(() => setThreads('2' as never)).toThrow(TypeError);
    expect(() => setThreads(1e9)).toThrow(/Expected an integer between 1 and 4096 for n but received 1000000000/);
  });

  it('an out buffer detached while the call is queued rejects with a TypeError', async () => {
    const out = new Float32Array(48);
    const pending = mha.forward(query, { value, key, out });
    structuredClone(out.buffer, { transfer: [out.buffer] });
    await expect(pending).rejects.toThrow(/Expected an attached Float32Array of length 48 for out but received Float32Array of length 0/);
  });
});

// Getters and Proxies that answer differently on a second read (a shape grown, an array swapped after the checks):
// each property is read once, and the call computes on exactly what it checked.
describe('arguments that change between reads', () => {
  const mask = new Uint8Array(12).map((_, i) => (i % 5 === 0 ? 0 : 1));
  const reads = new Map<string, number>();
  // A property that gives `first` when read first and `later` after.
  const fickle = (name: string, first: unknown, later: unknown) => ({
    enumerable: true,
    get() {
      reads.set(name, (reads.get(name) ?? 0) + 1);
      return reads.get(name) === 1 ? first : later;
    },
  });
  // An array whose element i is `first` when read first and `later` after.
  const fickleShape = (name: string, shape: number[], i: number, later: number) =>
    new Proxy(shape, {
      get(target, p, receiver) {
        if (p !== String(i)) return Reflect.get(target, p, receiver);
        reads.set(name, (reads.get(name) ?? 0) + 1);
        return reads.get(name) === 1 ? target[i] : later;
      },
    });
  const tensor = (name: string, data: ArrayBufferView, shape: number[], i: number, later: number) =>
    Object.defineProperties({}, {
      data: fickle(`${name}.data`, data, new (data.constructor as Float32ArrayConstructor)(1)),
      shape: fickle(`${name}.shape`, fickleShape(`${name}.shape[${i}]`, shape, i, later), [1, 1, 1, 1]),
    });
  const options = () => Object.defineProperties({}, {
    value: fickle('value', tensor('value', value.data, [2, 4, 5], 1, 4000), value),
    key: fickle('key', tensor('key', key.data, [2, 4, 6], 1, 4000), key),
    attentionMask: fickle('attentionMask', tensor('mask', mask, [3, 4], 0, 3000), undefined),
    keyPaddingMask: fickle('keyPaddingMask', new Uint8Array([1, 1, 1, 0, 1, 0, 1, 1]), new Uint8Array(1)),
    out: fickle('out', new Float32Array(48).fill(NaN), new Float32Array(1)),
    returnAttentionScores: fickle('returnAttentionScores', true, 'no'),
  });
  const expected = mha.forwardSync(query, {
    value, key, attentionMask: mask, keyPaddingMask: new Uint8Array([1, 1, 1, 0, 1, 0, 1, 1]),
    returnAttentionScores: true,
  });

  it.each(['forwardSync', 'forward'])('%s', async (method) => {
    reads.clear();
    const q = tensor('query', query.data, [2, 3, 8], 1, 3000);
    const run = method === 'forwardSync' ? mha.forwardSync.bind(mha) : mha.forward.bind(mha);
    const result = await run(q as Tensor, options() as never);
    expect(result.output.shape).toEqual([2, 3, 8]);
    expect(result.output.data).toEqual(expected.output.data);
    expect(result.attentionScores!.data).toEqual(expected.attentionScores!.data);
    expect(Object.fromEntries(reads)).toEqual(Object.fromEntries([
      'query.data', 'query.shape', 'query.shape[1]', 'value', 'value.data', 'value.shape', 'value.shape[1]', 'key',
      'key.data', 'key.shape', 'key.shape[1]', 'attentionMask', 'mask.data', 'mask.shape', 'mask.shape[0]',
      'keyPaddingMask', 'out', 'returnAttentionScores',
    ].map((name) => [name, 1])));
  });

  it('a Float32Array subclass that misstates its length is caught by the binding: forward rejects', async () => {
    class Lying extends Float32Array {
      override get length() { return 48; }
    }
    const q = { data: new Lying(8), shape: [2, 3, 8] };
    const message = /Expected Float32Array of 48 elements for query but received 8/;
    expect(() => mha.forwardSync(q, { value, key })).toThrow(message);
    let promise: Promise<unknown> | undefined;
    expect(() => { promise = mha.forward(q, { value, key }); }).not.toThrow();
    await expect(promise).rejects.toThrow(message);
  });
});

// What TypeScript cannot guarantee, or a caller bypassing it: the binding checks again and throws, never crashes.
describe('binding checks', () => {
  const dims = { numHeads: 2, keyDim: 4, valueDim: 4, queryDim: 8, keyInputDim: 8, valueInputDim: 8, outputDim: 8, useBias: true };
  const layer = new binding.Layer(dims, Object.fromEntries(
    Object.entries(new MultiHeadAttention({ numHeads: 2, keyDim: 4 }).getWeights()).map(([k, t]) => [k, t!.data]),
  ));
  const good = () => ({
    batch: 1, queryLen: 2, keyLen: 3, threads: 2, causal: false,
    query: new Float32Array(16), key: new Float32Array(24), value: new Float32Array(24), output: new Float32Array(16),
  });

  it('accepts well-formed arguments', () => {
    expect(() => layer.forwardSync(...positional(good()))).not.toThrow();
  });

  it.each([
    ['no batch', { ...good(), batch: undefined }, TypeError, /Expected an integer for batch but received undefined/],
    ['a short query', { ...good(), query: new Float32Array(15) }, RangeError, /Expected Float32Array of 16 elements for query but received 15/],
    ['a wrong array type', { ...good(), key: new Float64Array(24) }, TypeError, /Expected Float32Array for key but received a typed array of length 24/],
    ['a missing value', { ...good(), value: undefined }, TypeError, /Expected Float32Array for value but received undefined/],
    ['a fractional batch', { ...good(), batch: 1.5 }, RangeError, /for batch but received 1.5/],
    ['zero threads', { ...good(), threads: 0 }, RangeError, /for threads/],
    ['a string causal', { ...good(), causal: 'no' }, TypeError, /Expected a boolean for causal/],
    ['a shape that overflows', { ...good(), batch: 2 ** 31 - 1, queryLen: 2 ** 31 - 1 }, RangeError, /The shape of query has more elements than a typed array can hold/],
    ['a short scores buffer', { ...good(), scores: new Float32Array(11) }, RangeError, /Expected Float32Array of 12 elements for scores/],
    ['bias strides past its end', { ...good(), bias: { data: new Float32Array(6), strideB: 0, strideH: 6, strideT: 3 } }, RangeError, /Expected Float32Array of at least 12 elements for bias but received 6/],
    ['a bias of the wrong type', { ...good(), bias: { data: new Uint8Array(6), strideB: 0, strideH: 0, strideT: 3 } }, TypeError, /Expected Float32Array for bias/],
    ['huge bias strides', { ...good(), bias: { data: new Float32Array(6), strideB: 0, strideH: 2 ** 32 - 1, strideT: 2 ** 32 - 1 } }, RangeError, /bias strides reach past/],
    ['mask strides past its end', { ...good(), mask: { data: new Uint8Array(6), strideB: 0, strideH: 6, strideT: 3 } }, RangeError, /Expected Uint8Array of at least 12 elements for mask but received 6/],
    ['huge mask strides', { ...good(), mask: { data: new Uint8Array(6), strideB: 0, strideH: 2 ** 32 - 1, strideT: 2 ** 32 - 1 } }, RangeError, /mask strides reach past/],
    ['a keyPadding of the wrong length', { ...good(), keyPadding: new Uint8Array(2) }, RangeError, /Expected Uint8Array of 3 elements for keyPadding/],
  ])('rejects %s', (_what, args, type, message) => {
    const call = positional(args as never);
    expect(() => layer.forwardSync(...call)).toThrow(type as ErrorConstructor);
    expect(() => layer.forwardSync(...call)).toThrow(message as RegExp);
    expect(() => layer.forward(...call)).toThrow(message as RegExp);
  });

  it('rejects a detached buffer', () => {
    const args = good();
    structuredClone(args.query.buffer, { transfer: [args.query.buffer] });
    expect(() => layer.forwardSync(...positional(args))).toThrow(/Expected an attached Float32Array for query but received a typed array of length 0/);
  });

  it('takes only its own cancel tokens', async () => {
    for (const notToken of [{}, 1, layer, new Float32Array(1)]) {
      expect(() => binding.cancel(notToken as never)).toThrow(/expected a cancel token/);
      expect(() => layer.forward(...positional(good()), notToken as never)).toThrow(/expected a cancel token/);
    }
    const token = binding.cancelToken();
    await layer.forward(...positional(good()), token);
    binding.cancel(token);
    binding.cancel(token); // twice, and after the call: harmless
  });

  it('rejects bad layer dimensions and weights', () => {
    expect(() => new binding.Layer({ ...dims, numHeads: 0 }, {})).toThrow(RangeError);
    expect(() => new binding.Layer(dims, { 'query.kernel': new Float32Array(3) })).toThrow(/Expected Float32Array of 64 elements for query.kernel but received 3/);
  });
});
