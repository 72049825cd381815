// Loads the compiled addon (a prebuilt binary or build/Release) and gives it a typed interface.
import path from 'node:path';
import type { MaskPlan } from './masks';
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
  mask?: MaskPlan;
  bias?: MaskPlan<Float32Array>;
}

/** NativeForwardArgs as the binding takes them: positional, since named lookups cost more than a tiny layer. */
export type NativeForwardTuple = [
  batch: number, queryLen: number, keyLen: number, threads: number, causal: boolean,
  query: Float32Array, key: Float32Array, value: Float32Array, output: Float32Array, scores: Float32Array | undefined,
  keyPadding: Uint8Array | undefined, mask: Uint8Array | undefined,
  maskStrideB: number | undefined, maskStrideH: number | undefined, maskStrideT: number | undefined,
  bias: Float32Array | undefined,
  biasStrideB: number | undefined, biasStrideH: number | undefined, biasStrideT: number | undefined,
];

export function positional(a: NativeForwardArgs): NativeForwardTuple {
  return [a.batch, a.queryLen, a.keyLen, a.threads, a.causal, a.query, a.key, a.value, a.output, a.scores,
    a.keyPadding, a.mask?.data, a.mask?.strideB, a.mask?.strideH, a.mask?.strideT, a.bias?.data, a.bias?.strideB,
    a.bias?.strideH, a.bias?.strideT];
}

export interface NativeLayer {
  getWeights(): Record<string, Float32Array>;
  forwardSync(...args: NativeForwardTuple): void;
  /**
   * Copies inputs in ordinary (detachable) ArrayBuffers before returning; SharedArrayBuffer-backed ones are read in
   * place. cancel: a token from cancelToken(); once cancel(token) is called, the call is skipped if still queued, or
   * stops within a block of its work.
   */
  forward(...args: [...NativeForwardTuple, cancel?: CancelToken]): Promise<void>;
  dispose(): void;
}

/** Opaque: made by the binding, read only by it. */
export type CancelToken = { readonly __brand: 'CancelToken' };

export interface NativeBinding {
  Layer: new (dims: LayerDims, weights: Record<string, Float32Array>) => NativeLayer;
  cancelToken(): CancelToken;
  cancel(token: CancelToken): void;
  setThreads(n: number): void;
  getThreads(): number;
  availableThreads(): number;
  cpuInfo(): { isa: string; features: string[] };
}

/** The C library a Linux binary must match: glibc and its version, or musl (which has no glibcVersionRuntime). */
function libc(): string {
  if (process.platform !== 'linux') return '';
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}, ` : 'musl, ';
}

/** Why node-gyp-build failed, in words: never the raw loader message as the whole story. */
function reason(cause: unknown): string {
  const message = cause instanceof Error ? cause.message : String(cause);
  const glibc = /GLIBC_([\d.]+)' not found/.exec(message);
  if (glibc) return `the prebuilt binary needs glibc ${glibc[1]} or newer`;
  if (/No native build was found/.test(message)) return 'none was built for this platform';
  return 'the binary found did not load';
}

function load(): NativeBinding {
  const root = path.join(__dirname, '..');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('node-gyp-build')(root) as NativeBinding;
  } catch (cause) {
    const err = new Error(
      `fastmha: no native binary for ${process.platform}-${process.arch} (${libc()}Node ${process.version}, ` +
        `Node-API ${process.versions.napi}): ${reason(cause)}. Prebuilt binaries cover linux-x64 and linux-arm64 ` +
        'with glibc >= 2.32 and Node-API >= 8 (Node >= 18). Elsewhere fastmha builds from source at install: ' +
        'reinstall with install scripts enabled (npm rebuild fastmha) where CMake >= 3.15 and a C++17 compiler ' +
        'are on PATH.',
      { cause },
    ) as Error & { code: string };
    err.code = 'FASTMHA_NO_BINARY';
    throw err;
  }
}

export const binding: NativeBinding = load();
