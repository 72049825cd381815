/**
 * fastmha: multi-head attention for Node.js, computed by a native addon on its own thread pool.
 * @packageDocumentation
 */
import { binding } from './native';
import { positiveInteger } from './is';

export { MultiHeadAttention } from './multi_head_attention';
export type {
  AttentionResult,
  AttentionResultWithScores,
  ForwardOptions,
  MultiHeadAttentionOptions,
} from './multi_head_attention';
export { Tensor } from './tensor';
export type { TensorLike } from './tensor';
export type { Bias, BiasTensor, Mask, MaskTensor } from './masks';
export type { TorchOptions, TorchStateDict, Weights, WeightsInput, WeightName } from './weights';

/** What the CPU dispatch chose for this process, and what the CPU and OS support. */
export interface CpuInfo {
  isa: 'avx512' | 'avx2' | 'neon' | 'scalar';
  features: string[];
}

/**
 * Resizes the one process-wide compute pool (default: the CPUs this process may use).
 * @example setThreads(2);
 * @throws {RangeError} when n is not an integer from 1 to 4096
 */
export function setThreads(n: number): void {
  binding.setThreads(positiveInteger('n', n, 4096));
}

/**
 * The size of the process-wide compute pool.
 * @example const threads = getThreads();
 */
export function getThreads(): number {
  return binding.getThreads();
}

/**
 * The instruction-set path chosen at load and the CPU's features.
 * @example cpuInfo().isa;   // 'avx512' | 'avx2' | 'neon' | 'scalar'
 */
export function cpuInfo(): CpuInfo {
  return binding.cpuInfo() as CpuInfo;
}
