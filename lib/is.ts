// Validation helpers: every check in the public API goes through these, so every error reads
// "Expected <what> for <name> but received <value>" and is a TypeError (wrong type) or RangeError (wrong size).
import { types } from 'node:util';

/** A short, safe description of any value, for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'function') return 'a function';
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor?.name ?? 'typed array';
    return 'length' in value ? `${name} of length ${(value as { length: number }).length}` : name;
  }
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? `an instance of ${name}` : 'an object';
}

export function typeError(name: string, expected: string, actual: unknown): TypeError {
  return new TypeError(`Expected ${expected} for ${name} but received ${describe(actual)}`);
}

export function rangeError(name: string, expected: string, actual: string): RangeError {
  return new RangeError(`Expected ${expected} for ${name} but received ${actual}`);
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/** Throws for keys a caller passed that the options object does not know (a typo should not be ignored). */
export function rejectUnknownKeys(name: string, options: Record<string, unknown>, known: readonly string[]): void {
  for (const key in options) {
    if (Object.hasOwn(options, key) && !known.includes(key)) {
      throw new TypeError(`Unknown option ${JSON.stringify(key)} in ${name}; expected one of: ${known.join(', ')}`);
    }
  }
}

export function positiveInteger(name: string, value: unknown, max = 2 ** 31 - 1): number {
  if (typeof value !== 'number') throw typeError(name, 'a positive integer', value);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw rangeError(name, `an integer between 1 and ${max}`, String(value));
  }
  return value;
}

export function optionalBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
  return value;
}

// %TypedArray%.prototype.buffer's own getter: a subclass of Float32Array may override `buffer`.
const bufferOf = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'buffer')!.get!;

/**
 * Whether a typed array's memory is a SharedArrayBuffer, which cannot be detached. The pool writes a shared `out`
 * in place while the call runs, so this asks the engine (types.isSharedArrayBuffer, a check of the buffer itself),
 * not the view's `buffer` property or the prototype chain (instanceof), either of which a caller can fake.
 */
export function isShared(view: ArrayBufferView): boolean {
  return types.isSharedArrayBuffer(bufferOf.call(view));
}
