// Loads the compiled addon (a prebuilt binary or build/Release) and gives it a typed interface.
import path from 'node:path';
import type { LayerDims } from './weights';

/** Arguments of one forward, already validated and normalized by the TypeScript layer. */
export interface NativeForwardArgs {
  batch: number;
  queryLen: number;
  keyLen: number;
  threads: number;
  causal: boolean;
  query: Float32Array;
  key: Float32Array;
  value: Float32Array;
  output: Float32Array;
  scores?: Float32Array;
  keyPadding?: Uint8Array;
  mask?: Uint8Array;
  maskStrideB?: number;
  maskStrideH?: number;
  maskStrideT?: number;
}

/** NativeForwardArgs as the binding takes them: positional, since named lookups cost more than a tiny layer. */
export type NativeForwardTuple = [
  batch: number, queryLen: number, keyLen: number, threads: number, causal: boolean,
  query: Float32Array, key: Float32Array, value: Float32Array, output: Float32Array, scores: Float32Array | undefined,
  keyPadding: Uint8Array | undefined, mask: Uint8Array | undefined,
  maskStrideB: number | undefined, maskStrideH: number | undefined, maskStrideT: number | undefined,
];

export function positional(a: NativeForwardArgs): NativeForwardTuple {
  return [a.batch, a.queryLen, a.keyLen, a.threads, a.causal, a.query, a.key, a.value, a.output, a.scores,
    a.keyPadding, a.mask, a.maskStrideB, a.maskStrideH, a.maskStrideT];
}

export interface NativeLayer {
  getWeights(): Record<string, Float32Array>;
  forwardSync(...args: NativeForwardTuple): void;
  forward(...args: NativeForwardTuple): Promise<void>;
  dispose(): void;
}

export interface NativeBinding {
  Layer: new (dims: LayerDims, weights: Record<string, Float32Array>) => NativeLayer;
  setThreads(n: number): void;
  getThreads(): number;
  availableThreads(): number;
  cpuInfo(): { isa: string; features: string[] };
}

function load(): NativeBinding {
  const root = path.join(__dirname, '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('node-gyp-build')(root) as NativeBinding;
  } catch (cause) {
    const err = new Error(
      `fastmha: no native binary loads for ${process.platform}-${process.arch} ` +
        `(Node ${process.version}, Node-API ${process.versions.napi}). ` +
        'Reinstall with scripts enabled so it can be built from source (needs CMake and a C++17 compiler), ' +
        'or run `npm run build:native` in the package folder.',
      { cause },
    ) as Error & { code: string };
    err.code = 'FASTMHA_NO_BINARY';
    throw err;
  }
}

export const binding: NativeBinding = load();
