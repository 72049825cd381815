import { rangeError, shapeString, typeError, isPlainObject } from './is';

/** A row-major tensor: a flat `Float32Array` and its shape. Any object of this form is accepted as input. */
export interface TensorLike {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

/**
 * A row-major float32 tensor over a `Float32Array`, never copied: `data` may be a view with a byteOffset or
 * backed by a SharedArrayBuffer.
 *
 * @example
 * const x = new Tensor(new Float32Array(2 * 5 * 512), [2, 5, 512]);
 * @throws {TypeError} when data is not a Float32Array or shape not an array of integers
 * @throws {RangeError} when the shape's element count differs from data.length
 */
export class Tensor implements TensorLike {
  readonly data: Float32Array;
  readonly shape: readonly number[];

  constructor(data: Float32Array, shape: readonly number[]) {
    if (!(data instanceof Float32Array)) throw typeError('data', 'a Float32Array', data);
    const dims = copyShape(shape);
    checkShape('shape', dims);
    const size = elements(dims);
    if (size !== data.length) {
      throw rangeError('data', `${size} elements for shape ${shapeString(dims)}`, `${data.length}`);
    }
    this.data = data;
    this.shape = Object.freeze(dims);
  }

  /** A zero-filled tensor of the given shape. */
  static zeros(shape: readonly number[]): Tensor {
    checkShape('shape', shape);
    return new Tensor(new Float32Array(elements(shape)), shape);
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }
}

// Plain loops here and below, not every()/reduce(): these run on every call, and array builtins take a slow
// generic path over the frozen shapes of our tensors.
function elements(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i];
  return n;
}

// A shape is copied before it is checked, and only the copy is used after: a getter or Proxy could answer
// differently each time it is read, and the shape checked must be the shape computed on. A frozen array (a Tensor's
// shape) cannot change, a Proxy's included (its traps must then report the target's values), and is not copied:
// the copy made a tiny forwardSync 6-15% slower.
export function copyShape(shape: unknown): unknown {
  return Array.isArray(shape) && !Object.isFrozen(shape) ? shape.slice() : shape;
}

// The TypeError both shape checks give for anything but an array of numbers, naming `name` + `suffix` (joined only
// for the error: checkTensor runs on every call).
function requireNumbers(name: string, shape: unknown, suffix = ''): asserts shape is readonly number[] {
  let ok = Array.isArray(shape);
  for (let i = 0; ok && i < (shape as unknown[]).length; i++) ok = typeof (shape as unknown[])[i] === 'number';
  if (!ok) throw typeError(name + suffix, 'an array of integers', shape);
}

function checkShape(name: string, shape: unknown): asserts shape is readonly number[] {
  requireNumbers(name, shape);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (!Number.isInteger(d) || d < 0) throw rangeError(name, 'non-negative integer dimensions', shapeString(shape));
  }
}

/**
 * Checks a tensor argument: `{ data: Float32Array, shape }` of the given rank, each dimension equal to the
 * expected one where that is a number (null: any size, 0 included: an empty batch or sequence). Returns its data
 * and a copy of its shape, each read once (see copyShape): the caller uses these, never the argument again.
 */
export function checkTensor(
  name: string,
  value: unknown,
  expected: readonly (number | null)[],
  expectedText: () => string, // built only for an error: a per-call template string costs more than the check
): { data: Float32Array; shape: readonly number[] } {
  if (!isPlainObject(value) && !(value instanceof Tensor)) {
    throw typeError(name, `a tensor { data: Float32Array, shape: ${expectedText()} }`, value);
  }
  const data: unknown = value.data;
  const shape = copyShape(value.shape);
  if (!(data instanceof Float32Array)) throw typeError(`${name}.data`, 'a Float32Array', data);
  requireNumbers(name, shape, '.shape');
  let matches = shape.length === expected.length;
  for (let i = 0; matches && i < shape.length; i++) {
    const d = shape[i];
    matches = Number.isInteger(d) && d >= 0 && (expected[i] === null || expected[i] === d);
  }
  if (!matches) throw rangeError(`${name}.shape`, expectedText(), shapeString(shape));
  const size = elements(shape);
  if (size !== data.length) {
    throw rangeError(`${name}.data`, `${size} elements for shape ${shapeString(shape)}`, `length ${data.length}`);
  }
  return { data, shape };
}
