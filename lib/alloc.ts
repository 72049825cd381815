// Arrays the native code overwrites whole (outputs, attention scores).
import { constants } from 'node:buffer';

// From this many floats (64 KiB) up, an output skips the zero-fill `new Float32Array(n)` does: about half a
// millisecond per 3 MB, on the event loop's thread, for memory the computation writes in full anyway. Below it a
// plain typed array costs less than a Buffer.
const UNINITIALIZED_FROM = 1 << 14;

export function outputArray(length: number): Float32Array {
  if (length < UNINITIALIZED_FROM || length * 4 > constants.MAX_LENGTH) return new Float32Array(length);
  // allocUnsafeSlow: an ArrayBuffer of its own (never a slice of Node's shared pool), so transferring the result's
  // buffer to a worker moves nothing else.
  const bytes = Buffer.allocUnsafeSlow(length * 4);
  return new Float32Array(bytes.buffer, bytes.byteOffset, length);
}
