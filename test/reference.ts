// An independent float64 reference of the layer: naive loops straight from the definition (Vaswani et al.
// 2017, §3.2), reading weights in the Keras layout. Nothing here is shared with lib/ or native/.

export interface RefWeights {
  qk: ArrayLike<number>; // [queryDim, H, dk]
  qb?: ArrayLike<number>; // [H, dk]
  kk: ArrayLike<number>; // [keyInputDim, H, dk]
  kb?: ArrayLike<number>;
  vk: ArrayLike<number>; // [valueInputDim, H, dv]
  vb?: ArrayLike<number>;
  ok: ArrayLike<number>; // [H, dv, outputDim]
  ob?: ArrayLike<number>;
}

export interface RefArgs {
  B: number;
  T: number;
  S: number;
  H: number;
  dk: number;
  dv: number;
  queryDim: number;
  keyInputDim: number;
  valueInputDim: number;
  outputDim: number;
  query: ArrayLike<number>;
  key: ArrayLike<number>;
  value: ArrayLike<number>;
  weights: RefWeights;
  /** may query t of head h in batch b attend key s? (all masks together) */
  allowed?: (b: number, h: number, t: number, s: number) => boolean;
  /** added to the scaled score of (b, h, t, s) before the softmax; -Infinity hides the key */
  bias?: (b: number, h: number, t: number, s: number) => number;
}

// x [rows, inDim] times w [inDim, outDim] plus bias, all float64.
function project(x: ArrayLike<number>, rows: number, inDim: number, w: ArrayLike<number>, outDim: number,
  bias?: ArrayLike<number>): Float64Array {
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let acc = bias ? bias[o] : 0;
      for (let i = 0; i < inDim; i++) acc += x[r * inDim + i] * w[i * outDim + o];
      y[r * outDim + o] = acc;
    }
  }
  return y;
}

export function referenceAttention(a: RefArgs): { output: Float64Array; scores: Float64Array } {
  const { B, T, S, H, dk, dv, weights: w } = a;
  const Q = project(a.query, B * T, a.queryDim, w.qk, H * dk, w.qb);
  const K = project(a.key, B * S, a.keyInputDim, w.kk, H * dk, w.kb);
  const V = project(a.value, B * S, a.valueInputDim, w.vk, H * dv, w.vb);
  const context = new Float64Array(B * T * H * dv);
  const scores = new Float64Array(B * H * T * S);
  const logits = new Float64Array(S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        let max = -Infinity;
        for (let s = 0; s < S; s++) {
          if (a.allowed && !a.allowed(b, h, t, s)) {
            logits[s] = -Infinity;
            continue;
          }
          let dot = 0;
          for (let j = 0; j < dk; j++) dot += Q[(b * T + t) * H * dk + h * dk + j] * K[(b * S + s) * H * dk + h * dk + j];
          logits[s] = dot / Math.sqrt(dk) + (a.bias ? a.bias(b, h, t, s) : 0);
          max = Math.max(max, logits[s]);
        }
        if (max === -Infinity) continue; // nothing to attend: zero context and zero scores
        let sum = 0;
        for (let s = 0; s < S; s++) sum += logits[s] === -Infinity ? 0 : Math.exp(logits[s] - max);
        for (let s = 0; s < S; s++) {
          const p = logits[s] === -Infinity ? 0 : Math.exp(logits[s] - max) / sum;
          scores[((b * H + h) * T + t) * S + s] = p;
          for (let j = 0; j < dv; j++) {
            context[(b * T + t) * H * dv + h * dv + j] += p * V[(b * S + s) * H * dv + h * dv + j];
          }
        }
      }
    }
  }
  const output = project(context, B * T, H * dv, w.ok, a.outputDim, w.ob);
  return { output, scores };
}
