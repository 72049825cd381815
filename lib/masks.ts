import { isPlainObject, rangeError, shapeString, typeError } from './is';
import { copyShape } from './tensor';

/** A uint8 mask with an explicit shape; nonzero = may attend. */
export interface MaskTensor {
  readonly data: Uint8Array;
  readonly shape: readonly number[];
}

/** A mask as a flat Uint8Array (shape inferred from its length) or with an explicit shape. */
export type Mask = Uint8Array | MaskTensor;

/** A mask broadcast over [B, H, T, S]: element (b, h, t, s) is data[b*strideB + h*strideH + t*strideT + s]. */
export interface MaskPlan<A = Uint8Array> {
  data: A;
  strideB: number;
  strideH: number;
  strideT: number;
}

/** A float32 bias with an explicit shape, added to the scaled scores. */
export interface BiasTensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

/** An attention bias as a flat Float32Array (shape inferred from its length) or with an explicit shape. */
export type Bias = Float32Array | BiasTensor;

interface Dims {
  B: number;
  H: number;
  T: number;
  S: number;
}

const FORMS = '[T, S], [B, T, S], [B, 1, T, S] or [B, H, T, S]';

type ArrayKind<A> = { type: new (length: number) => A; name: 'Uint8Array' | 'Float32Array' };
const UINT8: ArrayKind<Uint8Array> = { type: Uint8Array, name: 'Uint8Array' };
const FLOAT32: ArrayKind<Float32Array> = { type: Float32Array, name: 'Float32Array' };

function parts<A extends Uint8Array | Float32Array>(
  name: string,
  value: unknown,
  kind: ArrayKind<A>,
): { data: A; shape?: readonly number[] } {
  if (value instanceof kind.type) return { data: value };
  if (isPlainObject(value)) {
    // Each read once, the shape copied (tensor.ts, copyShape): what is checked is what the native code gets.
    const data: unknown = value.data;
    const shape = copyShape(value.shape);
    if (data instanceof kind.type && Array.isArray(shape)) return { data: data as A, shape };
  }
  throw typeError(name, `a ${kind.name} or { data: ${kind.name}, shape }`, value);
}

/**
 * Normalizes a mask or bias to strides over [B, H, T, S]. A shaped one is aligned to the right of [B, H, T, S]
 * (rank 2: [T, S], rank 3: [B, T, S], rank 4: [B, H, T, S]) and any dimension but S may be 1 to broadcast. A flat
 * array is read as [T, S], [B, T, S] or [B, H, T, S] by its length.
 */
function planBroadcast<A extends Uint8Array | Float32Array>(
  name: string,
  value: unknown,
  d: Dims,
  kind: ArrayKind<A>,
): MaskPlan<A> {
  const { data, shape } = parts(name, value, kind);
  const { B, H, T, S } = d;
  if (shape === undefined) {
    const byLength: [number, MaskPlan<A>][] = [
      [T * S, { data, strideB: 0, strideH: 0, strideT: S }],
      [B * T * S, { data, strideB: T * S, strideH: 0, strideT: S }],
      [B * H * T * S, { data, strideB: H * T * S, strideH: T * S, strideT: S }],
    ];
    const found = byLength.find(([n]) => n === data.length);
    if (!found) {
      throw rangeError(
        name,
        `a ${kind.name} of shape ${FORMS} = ${shapeString([T, S])}, ${shapeString([B, T, S])} or ` +
          `${shapeString([B, H, T, S])} (length ${T * S}, ${B * T * S} or ${B * H * T * S})`,
        `length ${data.length}`,
      );
    }
    return found[1];
  }
  const full = [B, H, T, S];
  const axes = shape.length === 2 ? [2, 3] : shape.length === 3 ? [0, 2, 3] : shape.length === 4 ? [0, 1, 2, 3] : null;
  const fits =
    axes !== null &&
    shape.every((n, i) => Number.isInteger(n) && (n === full[axes[i]] || (n === 1 && axes[i] !== 3)));
  if (!fits) {
    throw rangeError(
      `${name}.shape`,
      `${FORMS} = ${shapeString([T, S])}, ${shapeString([B, T, S])} or ${shapeString([B, H, T, S])}, ` +
        'any dimension but the last may be 1',
      shapeString(shape),
    );
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length) {
    throw rangeError(`${name}.data`, `${size} elements for shape ${shapeString(shape)}`, `length ${data.length}`);
  }
  // Row-major strides of the given shape, zero where the dimension broadcasts.
  const strides = [0, 0, 0, 1];
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[axes![i]] = shape[i] === 1 && axes![i] !== 3 ? 0 : stride;
    stride *= shape[i];
  }
  return { data, strideB: strides[0], strideH: strides[1], strideT: strides[2] };
}

/** attentionMask (uint8, nonzero = may attend) as strides over [B, H, T, S]. */
export function planAttentionMask(mask: unknown, d: Dims): MaskPlan {
  return planBroadcast('attentionMask', mask, d, UINT8);
}

/** attentionBias (float32, added to the scaled scores) as strides over [B, H, T, S]. */
export function planAttentionBias(bias: unknown, d: Dims): MaskPlan<Float32Array> {
  return planBroadcast('attentionBias', bias, d, FLOAT32);
}

/** Checks keyPaddingMask: [B, S], nonzero = a real token (PyTorch's key_padding_mask is the opposite). */
export function checkKeyPaddingMask(mask: unknown, B: number, S: number): Uint8Array {
  const name = 'keyPaddingMask';
  const { data, shape } = parts(name, mask, UINT8);
  if (shape !== undefined && (shape.length !== 2 || shape[0] !== B || shape[1] !== S)) {
    throw rangeError(`${name}.shape`, shapeString([B, S]), shapeString(shape));
  }
  if (data.length !== B * S) {
    throw rangeError(name, `a Uint8Array of shape [B, S] = ${shapeString([B, S])} (length ${B * S})`,
      `length ${data.length}`);
  }
  return data;
}
