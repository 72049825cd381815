import { outputArray } from './alloc';
import {
  isPlainObject,
  isShared,
  optionalBoolean,
  positiveInteger,
  rangeError,
  rejectUnknownKeys,
  shapeString,
  typeError,
} from './is';
import { checkKeyPaddingMask, planAttentionBias, planAttentionMask, type Bias, type Mask } from './masks';
import { binding, positional, type NativeForwardArgs, type NativeLayer } from './native';
import { checkTensor, Tensor, type TensorLike } from './tensor';
import {
  checkWeights,
  fromTorchStateDict,
  glorotInit,
  toTensors,
  type LayerDims,
  type TorchOptions,
  type TorchStateDict,
  type Weights,
  type WeightsInput,
} from './weights';

/** Constructor options, with Keras's names in camelCase. */
export interface MultiHeadAttentionOptions {
  /** Number of heads, h. */
  numHeads: number;
  /** Per-head size of queries and keys, d_k. */
  keyDim: number;
  /** Per-head size of values, d_v. Default: keyDim. */
  valueDim?: number;
  /** Feature size of the query input. Default: numHeads * keyDim. */
  queryDim?: number;
  /** Feature size of the key input. Default: valueInputDim. */
  keyInputDim?: number;
  /** Feature size of the value input. Default: queryDim. */
  valueInputDim?: number;
  /** Feature size of the output. Default: queryDim. */
  outputDim?: number;
  /** Whether the projections have biases. Default: true. */
  useBias?: boolean;
  /** Seed of the glorot-uniform kernel initialization (biases start at zero). Default: 0. */
  seed?: number;
  /** Most threads one call of this layer uses. Default: all of the process-wide pool (see setThreads). */
  threads?: number;
}

/** Options of forward() and forwardSync(). */
export interface ForwardOptions {
  /** [B, S, valueInputDim]. Default: query (self-attention). */
  value?: TensorLike;
  /** [B, S, keyInputDim]. Default: value. */
  key?: TensorLike;
  /** 1 = may attend. [T, S], [B, T, S], [B, 1, T, S] or [B, H, T, S]; a flat Uint8Array or { data, shape }. */
  attentionMask?: Mask;
  /**
   * Added to the scaled scores QKᵀ/√keyDim before the softmax (relative position biases, ALiBi, PyTorch's float
   * attn_mask); -Infinity hides a key. The shapes of attentionMask; a flat Float32Array or { data, shape }.
   */
  attentionBias?: Bias;
  /** [B, S], 1 = a real token, 0 = padding (the opposite of PyTorch's key_padding_mask). */
  keyPaddingMask?: Mask;
  /** Query t may attend key s <= t + (S - T) (bottom-right aligned). Default: false. */
  causal?: boolean;
  /** Also return the softmax weights [B, H, T, S]. Default: false. */
  returnAttentionScores?: boolean;
  /** A caller-owned Float32Array of B * T * outputDim elements to write the output into. */
  out?: Float32Array;
  /**
   * Rejects the call with the signal's reason when aborted before it completes. A call still queued is skipped, one
   * being computed stops within a block of its work; `out` is not written after the abort unless shared
   * (written in place) and the output projection had begun.
   */
  signal?: AbortSignal;
}

export interface AttentionResult {
  /** [B, T, outputDim]. */
  output: Tensor;
  /** [B, H, T, S], present when returnAttentionScores was true. */
  attentionScores?: Tensor;
}

export type AttentionResultWithScores = Required<AttentionResult>;

const CONSTRUCTOR_KEYS = [
  'numHeads', 'keyDim', 'valueDim', 'queryDim', 'keyInputDim', 'valueInputDim', 'outputDim', 'useBias', 'seed',
  'threads',
] as const;
const FORWARD_KEYS = [
  'value', 'key', 'attentionMask', 'attentionBias', 'keyPaddingMask', 'causal', 'returnAttentionScores', 'out',
  'signal',
] as const;
const TORCH_KEYS = ['numHeads', 'embedDim', 'kdim', 'vdim', 'bias'] as const;
const MAX_THREADS = 4096;

/** One forward, validated: what the native call needs, plus what the result is built from. */
interface Plan {
  args: NativeForwardArgs;
  outputShape: number[];
  scoresShape?: number[];
  out?: Float32Array;
  signal?: AbortSignal;
}

/**
 * Multi-head attention (Vaswani et al. 2017, §3.2.2) with Keras's options and weight layout.
 *
 * @example
 * const mha = new MultiHeadAttention({ numHeads: 8, keyDim: 64 });
 * const query = new Tensor(new Float32Array(2 * 5 * 512), [2, 5, 512]);
 * const { output } = await mha.forward(query, { causal: true });   // output.shape: [2, 5, 512]
 * @throws {TypeError} for an option of the wrong type or an unknown option
 * @throws {RangeError} for a size out of range
 */
export class MultiHeadAttention {
  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly queryDim: number;
  readonly keyInputDim: number;
  readonly valueInputDim: number;
  readonly outputDim: number;
  readonly useBias: boolean;
  readonly threads: number | undefined;
  #native: NativeLayer | undefined;

  constructor(options: MultiHeadAttentionOptions) {
    if (!isPlainObject(options)) throw typeError('options', 'an object with numHeads and keyDim', options);
    rejectUnknownKeys('MultiHeadAttention options', options, CONSTRUCTOR_KEYS);
    const maxDim = 2 ** 24;
    this.numHeads = positiveInteger('numHeads', options.numHeads, maxDim);
    this.keyDim = positiveInteger('keyDim', options.keyDim, maxDim);
    const dim = (name: keyof MultiHeadAttentionOptions, fallback: number) =>
      options[name] === undefined ? fallback : positiveInteger(name, options[name], maxDim);
    this.valueDim = dim('valueDim', this.keyDim);
    this.queryDim = dim('queryDim', this.numHeads * this.keyDim);
    this.valueInputDim = dim('valueInputDim', this.queryDim);
    this.keyInputDim = dim('keyInputDim', this.valueInputDim);
    this.outputDim = dim('outputDim', this.queryDim);
    this.useBias = optionalBoolean('useBias', options.useBias, true);
    this.threads = options.threads === undefined ? undefined : positiveInteger('threads', options.threads, MAX_THREADS);
    const seed = options.seed ?? 0;
    if (typeof seed !== 'number') throw typeError('seed', 'an integer', seed);
    if (!Number.isSafeInteger(seed)) throw rangeError('seed', 'a safe integer', String(seed));
    this.#native = new binding.Layer(this.#dims(), glorotInit(this.#dims(), seed));
  }

  /**
   * A layer holding the weights of a torch.nn.MultiheadAttention (batch_first semantics: our tensors are
   * [B, T, E]). Pass `in_proj_weight` when kdim and vdim equal embedDim, else q/k/v_proj_weight.
   *
   * @example
   * const mha = MultiHeadAttention.fromTorch(stateDict, { numHeads: 8, embedDim: 512 });
   * @throws {TypeError} for a missing or unexpected state_dict key
   * @throws {RangeError} for a weight of the wrong shape
   */
  static fromTorch(
    stateDict: TorchStateDict,
    options: TorchOptions & Pick<MultiHeadAttentionOptions, 'threads'>,
  ): MultiHeadAttention {
    if (!isPlainObject(options)) throw typeError('options', 'an object with numHeads and embedDim', options);
    rejectUnknownKeys('fromTorch options', options, [...TORCH_KEYS, 'threads']);
    const numHeads = positiveInteger('numHeads', options.numHeads);
    const embedDim = positiveInteger('embedDim', options.embedDim);
    if (embedDim % numHeads !== 0) {
      throw rangeError('embedDim', `a multiple of numHeads (${numHeads})`, String(embedDim));
    }
    const kdim = options.kdim === undefined ? embedDim : positiveInteger('kdim', options.kdim);
    const vdim = options.vdim === undefined ? embedDim : positiveInteger('vdim', options.vdim);
    const bias = optionalBoolean('bias', options.bias, true);
    const weights = fromTorchStateDict(stateDict, { numHeads, embedDim, kdim, vdim, bias });
    const mha = new MultiHeadAttention({
      numHeads,
      keyDim: embedDim / numHeads,
      queryDim: embedDim,
      keyInputDim: kdim,
      valueInputDim: vdim,
      outputDim: embedDim,
      useBias: bias,
      threads: options.threads,
    });
    mha.#replace(weights);
    return mha;
  }

  /**
   * Replaces the weights (Keras layout; see getWeights). They are copied and prepared once, here.
   *
   * @example
   * other.setWeights(mha.getWeights());   // another layer of the same sizes, or weights saved from Keras
   * @throws {Error} when the layer has been disposed
   * @throws {TypeError} for a missing, unknown or non-Float32Array weight
   * @throws {RangeError} for a weight of the wrong shape
   */
  setWeights(weights: WeightsInput): void {
    this.#live();
    this.#replace(checkWeights(weights, this.#dims()));
  }

  /**
   * Copies of the weights in the Keras layout: query.kernel [queryDim, numHeads, keyDim], etc.
   *
   * @example
   * const { 'query.kernel': queryKernel } = mha.getWeights();   // a Tensor of shape [queryDim, numHeads, keyDim]
   * @throws {Error} when the layer has been disposed
   */
  getWeights(): Weights {
    return toTensors(this.#live().getWeights(), this.#dims());
  }

  /**
   * Attention of `query` over `key`/`value`, computed on the fastmha thread pool; the JS thread stays free.
   * Inputs not backed by a SharedArrayBuffer are copied once before queuing, so the caller may reuse them at once.
   *
   * @example
   * const { output, attentionScores } = await mha.forward(target, { value: source, returnAttentionScores: true });
   * @throws nothing: bad input rejects the promise with a TypeError or RangeError; an aborted signal with its reason
   */
  forward(
    query: TensorLike,
    options: ForwardOptions & { returnAttentionScores: true },
  ): Promise<AttentionResultWithScores>;
  forward(query: TensorLike, options?: ForwardOptions): Promise<AttentionResult>;
  forward(query: TensorLike, options: ForwardOptions = {}): Promise<AttentionResult> {
    try {
      return this.#forward(query, options);
    } catch (err) {
      return Promise.reject(err); // a bad argument, or the binding's own checks: a rejection, never a throw
    }
  }

  #forward(query: TensorLike, options: ForwardOptions): Promise<AttentionResult> {
    const layer = this.#live();
    const plan = this.#plan(query, options);
    const { args, signal } = plan;
    signal?.throwIfAborted();
    if (args.batch === 0 || args.queryLen === 0) return Promise.resolve(this.#result(plan, args.output, args.scores));
    // The pool reads inputs after this call returns: the binding copies those in ordinary ArrayBuffers, which could
    // be detached by then, and reads SharedArrayBuffer-backed ones in place. It writes the output in place too: a
    // caller's `out` only if shared, otherwise an array of ours that `out` is filled from at the end.
    const callerOut = plan.out;
    if (callerOut && !isShared(callerOut)) args.output = outputArray('out', [callerOut.length]);
    const token = signal ? binding.cancelToken() : undefined;
    const work = layer.forward(...positional(args), token).then(() => {
      // Aborted: the promise is rejected already and the caller may be using `out` for something else.
      if (signal?.aborted) throw signal.reason;
      if (callerOut && callerOut !== args.output) {
        if (callerOut.length !== args.output.length) {
          throw typeError('out', `an attached Float32Array of length ${args.output.length}`, callerOut);
        }
        callerOut.set(args.output);
      }
      return this.#result(plan, callerOut ?? args.output, args.scores);
    });
    if (!signal) return work;
    return new Promise<AttentionResult>((resolve, reject) => {
      const onAbort = () => {
        binding.cancel(token!); // skipped if still queued, cut short if running
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * The same result as forward(), computed before returning: zero-copy both ways. For worker threads and
   * scripts; on a server's main thread it blocks the event loop for the whole computation. A `signal` is checked
   * once, before computing: the thread it blocks can run nothing that would abort it meanwhile.
   *
   * @example
   * const { output } = mha.forwardSync(query, { causal: true });
   * @throws the signal's reason when it is already aborted
   * @throws {Error} when the layer has been disposed
   * @throws {TypeError} for an argument of the wrong type
   * @throws {RangeError} for an argument of the wrong shape
   */
  forwardSync(query: TensorLike, options: ForwardOptions & { returnAttentionScores: true }): AttentionResultWithScores;
  forwardSync(query: TensorLike, options?: ForwardOptions): AttentionResult;
  forwardSync(query: TensorLike, options: ForwardOptions = {}): AttentionResult {
    const layer = this.#live();
    const plan = this.#plan(query, options);
    plan.signal?.throwIfAborted();
    const a = plan.args;
    if (a.batch === 0 || a.queryLen === 0) return this.#result(plan, a.output, a.scores); // nothing to compute
    layer.forwardSync(...positional(a));
    return this.#result(plan, a.output, a.scores);
  }

  /**
   * Frees the weights; later calls throw. Calls already queued complete.
   *
   * @example
   * using mha = new MultiHeadAttention({ numHeads: 8, keyDim: 64 });   // disposed at the end of the block
   */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #dims(): LayerDims {
    const { numHeads, keyDim, valueDim, queryDim, keyInputDim, valueInputDim, outputDim, useBias } = this;
    return { numHeads, keyDim, valueDim, queryDim, keyInputDim, valueInputDim, outputDim, useBias };
  }

  #live(): NativeLayer {
    if (!this.#native) throw new Error('fastmha: this MultiHeadAttention has been disposed');
    return this.#native;
  }

  #replace(weights: Record<string, Float32Array>): void {
    const next = new binding.Layer(this.#dims(), weights);
    this.#native?.dispose();
    this.#native = next;
  }

  #result(plan: Plan, output: Float32Array, scores: Float32Array | undefined): AttentionResult {
    const result: AttentionResult = { output: new Tensor(output, plan.outputShape) };
    if (scores) result.attentionScores = new Tensor(scores, plan.scoresShape!);
    return result;
  }

  // Every option and tensor property is read once, here, and only what was read is checked and used after (as
  // sharp's baton): a getter or Proxy that answers differently on a second read cannot slip past the checks.
  #plan(query: TensorLike, options: ForwardOptions): Plan {
    if (!isPlainObject(options)) throw typeError('options', 'an object', options);
    rejectUnknownKeys('forward options', options, FORWARD_KEYS);
    const { attentionMask, attentionBias, keyPaddingMask, causal, returnAttentionScores, out, signal } = options;
    const valueInput = options.value ?? query, keyInput = options.key ?? valueInput;
    const q = checkTensor('query', query, [null, null, this.queryDim],
      () => `[B, T, ${this.queryDim}] (queryDim ${this.queryDim})`);
    const [B, T] = q.shape;
    // An input that is the tensor already checked needs only its last dimension compared (self-attention).
    const value = valueInput === query && this.valueInputDim === this.queryDim ? q : checkTensor(
      'value', valueInput, [B, null, this.valueInputDim],
      () => `[${B}, S, ${this.valueInputDim}] (batch of query, valueInputDim)`,
    );
    const S = value.shape[1];
    const key = keyInput === valueInput && this.keyInputDim === this.valueInputDim ? value : checkTensor(
      'key', keyInput, [B, S, this.keyInputDim],
      () => `[${B}, ${S}, ${this.keyInputDim}] (batch of query, length of value, keyInputDim)`,
    );
    const H = this.numHeads;
    const args: NativeForwardArgs = {
      batch: B,
      queryLen: T,
      keyLen: S,
      threads: this.threads ?? MAX_THREADS,
      causal: optionalBoolean('causal', causal, false),
      query: q.data,
      key: key.data,
      value: value.data,
      output: new Float32Array(0),
    };
    const outputSize = B * T * this.outputDim;
    const outputShape = [B, T, this.outputDim];
    if (out !== undefined) {
      if (!(out instanceof Float32Array)) throw typeError('out', 'a Float32Array', out);
      if (out.length !== outputSize) {
        throw rangeError('out', `a Float32Array of shape ${shapeString(outputShape)} (length ${outputSize})`,
          `length ${out.length}`);
      }
    }
    args.output = out ?? outputArray('output', outputShape);
    let scoresShape: number[] | undefined;
    if (optionalBoolean('returnAttentionScores', returnAttentionScores, false)) {
      scoresShape = [B, H, T, S];
      // Without them the attention holds no T x S matrix: any length whose inputs and output fit is computed.
      args.scores = outputArray('attentionScores', scoresShape,
        'Without returnAttentionScores, the output alone needs no T x S matrix');
    }
    if (attentionMask !== undefined) args.mask = planAttentionMask(attentionMask, { B, H, T, S });
    if (attentionBias !== undefined) args.bias = planAttentionBias(attentionBias, { B, H, T, S });
    if (keyPaddingMask !== undefined) args.keyPadding = checkKeyPaddingMask(keyPaddingMask, B, S);
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw typeError('signal', 'an AbortSignal', signal);
    return { args, outputShape, scoresShape, out, signal };
  }
}
