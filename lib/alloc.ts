// Arrays the native code overwrites whole (outputs, attention scores).
import { constants } from 'node:buffer';

import { rangeError, shapeString } from './is';

/** Node's limit on a typed array's length. */
export const MAX_FLOAT32_ELEMENTS = 2 ** 32;

// From this many floats (64 KiB) up, an output skips the zero-fill `new Float32Array(n)` does: about half a
// millisecond per 3 MB, on the event loop's thread, for memory the computation writes in full anyway. Below it a
// plain typed array costs less than a Buffer.
const UNINITIALIZED_FROM = 1 << 14;

// A new array for the output `name` of this shape: a RangeError that names it where no typed array is that long
// (V8's own says only "Invalid typed array length"), followed by `hint`, what the caller can do about it.
export function outputArray(name: string, shape: readonly number[], hint?: string): Float32Array {
  const length = shape.reduce((a, b) => a * b, 1);
  if (length > MAX_FLOAT32_ELEMENTS) {
    const error = rangeError(name, `at most ${MAX_FLOAT32_ELEMENTS} elements (the most a Float32Array holds)`,
      `shape ${shapeString(shape)} (${length} elements)`);
    if (hint) error.message += `. ${hint}`;
    throw error;
  }
  if (length < UNINITIALIZED_FROM || length * 4 > constants.MAX_LENGTH) return new Float32Array(length);
  // allocUnsafeSlow: an ArrayBuffer of its own (never a slice of Node's shared pool), so transferring the result's
  // buffer to a worker moves nothing else.
  const bytes = Buffer.allocUnsafeSlow(length * 4);
  return new Float32Array(bytes.buffer, bytes.byteOffset, length);
}
