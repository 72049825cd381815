// Weight layouts. Ours is Keras's: each kernel maps its input features to heads ([in, numHeads, headDim], or
// [numHeads, valueDim, out] for the output), so a projection is x · kernel + bias with no transpose.
// PyTorch's nn.MultiheadAttention stores the transposes (y = x Wᵀ + b), the three input projections stacked
// in in_proj_weight [3E, E] when key and value have the query's width.
import { MAX_FLOAT32_ELEMENTS } from './alloc';
import { isPlainObject, rangeError, shapeString, typeError } from './is';
import { Tensor } from './tensor';

export const WEIGHT_NAMES = [
  'query.kernel',
  'query.bias',
  'key.kernel',
  'key.bias',
  'value.kernel',
  'value.bias',
  'output.kernel',
  'output.bias',
] as const;

export type WeightName = (typeof WEIGHT_NAMES)[number];

/** The layer's weights in the Keras layout; the biases are absent when `useBias` is false. */
export type Weights = { [K in WeightName]?: Tensor };

/** What setWeights accepts: tensors (shape checked) or flat Float32Arrays (length checked). */
export type WeightsInput = {
  [K in WeightName]?: Tensor | { data: Float32Array; shape: readonly number[] } | Float32Array;
};

export interface LayerDims {
  numHeads: number;
  keyDim: number;
  valueDim: number;
  queryDim: number;
  keyInputDim: number;
  valueInputDim: number;
  outputDim: number;
  useBias: boolean;
}

/** The Keras shape of each weight. */
export function weightShapes(d: LayerDims): Record<WeightName, number[]> {
  return {
    'query.kernel': [d.queryDim, d.numHeads, d.keyDim],
    'query.bias': [d.numHeads, d.keyDim],
    'key.kernel': [d.keyInputDim, d.numHeads, d.keyDim],
    'key.bias': [d.numHeads, d.keyDim],
    'value.kernel': [d.valueInputDim, d.numHeads, d.valueDim],
    'value.bias': [d.numHeads, d.valueDim],
    'output.kernel': [d.numHeads, d.valueDim, d.outputDim],
    'output.bias': [d.outputDim],
  };
}

function expectedNames(d: LayerDims): WeightName[] {
  return WEIGHT_NAMES.filter((n) => d.useBias || !n.endsWith('.bias'));
}

// One weight: a Float32Array of `shape`'s size, or a tensor ({ data, shape }) of exactly that shape.
function shapedFloats(label: string, value: unknown, shape: readonly number[]): Float32Array {
  let data: unknown = value;
  if (isPlainObject(value) || value instanceof Tensor) {
    const t = value as { data: unknown; shape: unknown };
    data = t.data;
    if (!Array.isArray(t.shape) || t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
      const actual = Array.isArray(t.shape) ? shapeString(t.shape) : String(t.shape);
      throw rangeError(`${label}.shape`, shapeString(shape), actual);
    }
  }
  if (!(data instanceof Float32Array)) {
    throw typeError(label, `a Float32Array or tensor of shape ${shapeString(shape)}`, value);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (data.length !== size) {
    throw rangeError(label, `${size} elements (shape ${shapeString(shape)})`, `length ${data.length}`);
  }
  return data;
}

/** Checks a setWeights argument against the layer's dimensions; returns flat arrays by name. */
export function checkWeights(weights: unknown, d: LayerDims): Record<string, Float32Array> {
  if (!isPlainObject(weights)) throw typeError('weights', 'an object of Float32Arrays or tensors by name', weights);
  const shapes = weightShapes(d);
  const names = expectedNames(d);
  for (const key of Object.keys(weights)) {
    if (!names.includes(key as WeightName)) {
      const why = (WEIGHT_NAMES as readonly string[]).includes(key) ? ' (the layer has useBias: false)' : '';
      throw new TypeError(`Unexpected weight ${JSON.stringify(key)}${why}; expected: ${names.join(', ')}`);
    }
  }
  const out: Record<string, Float32Array> = {};
  for (const name of names) out[name] = shapedFloats(`weights["${name}"]`, weights[name], shapes[name]);
  return out;
}

/** Wraps native flat arrays as Keras-shaped tensors. */
export function toTensors(flat: Record<string, Float32Array>, d: LayerDims): Weights {
  const shapes = weightShapes(d);
  const out: Weights = {};
  for (const name of expectedNames(d)) out[name] = new Tensor(flat[name], shapes[name]);
  return out;
}

// A small deterministic generator (splitmix32): the same seed gives the same weights on every platform.
function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}

/**
 * Keras defaults: glorot-uniform kernels, zero biases. Fans follow Keras for kernels of rank 3: the leading
 * dimension counts as the receptive field, so fan_in = shape[0] * shape[1] and fan_out = shape[0] * shape[2].
 * Each kernel draws from its own stream, derived from the seed and the kernel's index.
 */
export function glorotInit(d: LayerDims, seed: number): Record<string, Float32Array> {
  const shapes = weightShapes(d);
  const out: Record<string, Float32Array> = {};
  expectedNames(d).forEach((name, index) => {
    const shape = shapes[name];
    const size = shape.reduce((a, b) => a * b, 1);
    if (size > MAX_FLOAT32_ELEMENTS) {
      throw rangeError(name, `at most ${MAX_FLOAT32_ELEMENTS} elements (the most a Float32Array holds)`,
        `shape ${shapeString(shape)} from the options (${size} elements)`);
    }
    const data = new Float32Array(size);
    if (name.endsWith('.kernel')) {
      const [field, fanIn, fanOut] = [shape[0], shape[1], shape[2]];
      const limit = Math.sqrt(6 / (field * fanIn + field * fanOut));
      const next = splitmix32((seed >>> 0) ^ Math.imul(index + 1, 0x27d4eb2f));
      for (let i = 0; i < data.length; i++) data[i] = (next() * 2 - 1) * limit;
    }
    out[name] = data;
  });
  return out;
}

/** Options of torch.nn.MultiheadAttention that shape its state_dict. */
export interface TorchOptions {
  numHeads: number;
  embedDim: number;
  kdim?: number;
  vdim?: number;
  bias?: boolean;
}

/** A torch.nn.MultiheadAttention state_dict as row-major Float32Arrays (or tensors with their torch shapes). */
export type TorchStateDict = Record<string, Float32Array | { data: Float32Array; shape: readonly number[] }>;

function torchArray(sd: Record<string, unknown>, key: string, shape: number[]): Float32Array {
  return shapedFloats(`stateDict["${key}"]`, sd[key], shape);
}

// Torch weight [out, in] (rows outRows starting at rowOffset) to a Keras kernel [in, out].
function transposed(w: Float32Array, rowOffset: number, outRows: number, inCols: number): Float32Array {
  const k = new Float32Array(inCols * outRows);
  for (let o = 0; o < outRows; o++) {
    const row = (rowOffset + o) * inCols;
    for (let i = 0; i < inCols; i++) k[i * outRows + o] = w[row + i];
  }
  return k;
}

/** Converts a torch.nn.MultiheadAttention state_dict to our dimensions and Keras-layout weights. */
export function fromTorchStateDict(
  stateDict: unknown,
  dims: Required<TorchOptions>,
): Record<string, Float32Array> {
  if (!isPlainObject(stateDict)) {
    throw typeError('stateDict', 'an object of Float32Arrays by state_dict key', stateDict);
  }
  const sd = stateDict;
  const { embedDim: E, kdim, vdim, bias } = dims;
  for (const unsupported of ['bias_k', 'bias_v']) {
    if (unsupported in sd) throw new TypeError(`stateDict["${unsupported}"]: add_bias_kv is not supported`);
  }
  const known = [
    'in_proj_weight', 'q_proj_weight', 'k_proj_weight', 'v_proj_weight', 'in_proj_bias', 'out_proj.weight',
    'out_proj.bias',
  ];
  for (const key of Object.keys(sd)) {
    if (!known.includes(key)) {
      throw new TypeError(`Unexpected stateDict key ${JSON.stringify(key)}; expected: ${known.join(', ')}`);
    }
    if (!bias && key.endsWith('bias')) throw new TypeError(`stateDict["${key}"] given but bias is false`);
  }
  const out: Record<string, Float32Array> = {};
  if ('in_proj_weight' in sd) {
    if (kdim !== E || vdim !== E) {
      throw new RangeError(
        `stateDict["in_proj_weight"] packs query, key and value projections of width embedDim ${E}, but kdim is ` +
          `${kdim} and vdim ${vdim}: pass q_proj_weight, k_proj_weight and v_proj_weight instead`,
      );
    }
    const w = torchArray(sd, 'in_proj_weight', [3 * E, E]);
    out['query.kernel'] = transposed(w, 0, E, E);
    out['key.kernel'] = transposed(w, E, E, E);
    out['value.kernel'] = transposed(w, 2 * E, E, E);
  } else {
    out['query.kernel'] = transposed(torchArray(sd, 'q_proj_weight', [E, E]), 0, E, E);
    out['key.kernel'] = transposed(torchArray(sd, 'k_proj_weight', [E, kdim]), 0, E, kdim);
    out['value.kernel'] = transposed(torchArray(sd, 'v_proj_weight', [E, vdim]), 0, E, vdim);
  }
  out['output.kernel'] = transposed(torchArray(sd, 'out_proj.weight', [E, E]), 0, E, E);
  if (bias) {
    const b = torchArray(sd, 'in_proj_bias', [3 * E]);
    out['query.bias'] = b.slice(0, E);
    out['key.bias'] = b.slice(E, 2 * E);
    out['value.bias'] = b.slice(2 * E, 3 * E);
    out['output.bias'] = torchArray(sd, 'out_proj.bias', [E]).slice();
  }
  return out;
}
