// `npm start`: one multi-head attention layer at the paper's sizes (d_model 512, 8 heads of 64), used three
// ways a transformer uses it, with shapes, a few values and timings.
import { cpuInfo, getThreads, MultiHeadAttention, Tensor } from 'fastmha';

function random(shape, seed) {
  let s = seed >>> 0 || 1;
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 31 - 1;
  }
  return new Tensor(data, shape);
}

async function time(run, repeats) {
  const ms = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await run();
    ms.push(performance.now() - start);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)];
}

const fmt = (a, n = 4) => `[${Array.from(a.slice(0, n), (x) => x.toFixed(4)).join(', ')}, ...]`;
const { isa, features } = cpuInfo();
console.log(`fastmha: ${getThreads()} threads, kernels: ${isa} (CPU: ${features.join(' ')})\n`);

const B = 64, dModel = 512, heads = 8;
const encoderSelf = new MultiHeadAttention({ numHeads: heads, keyDim: dModel / heads, seed: 1 });
const decoderSelf = new MultiHeadAttention({ numHeads: heads, keyDim: dModel / heads, seed: 2 });
const cross = new MultiHeadAttention({ numHeads: heads, keyDim: dModel / heads, seed: 3 });

// Source sentences of 9 tokens, the last few of each padded; target sentences of 12 tokens.
const S = 9, T = 12;
const source = random([B, S, dModel], 10);
const target = random([B, T, dModel], 11);
const keyPaddingMask = new Uint8Array(B * S);
for (let b = 0; b < B; b++) keyPaddingMask.fill(1, b * S, b * S + S - (b % 4)); // 0 to 3 padded tokens

const runs = [
  ['encoder self-attention, padding mask', () => encoderSelf.forward(source, { keyPaddingMask, returnAttentionScores: true })],
  ['decoder self-attention, look-ahead mask', () => decoderSelf.forward(target, { causal: true, returnAttentionScores: true })],
  ['decoder cross-attention over the encoder', () => cross.forward(target, { value: source, keyPaddingMask, returnAttentionScores: true })],
];
for (const [name, run] of runs) {
  const { output, attentionScores } = await run();
  const ms = await time(run, 20);
  console.log(`${name}`);
  console.log(`  output ${JSON.stringify(output.shape)} ${fmt(output.data)}`);
  console.log(`  scores ${JSON.stringify(attentionScores.shape)}, batch 3 head 0 query 0: ${fmt(attentionScores.data.subarray(3 * heads * attentionScores.shape[2] * attentionScores.shape[3]), attentionScores.shape[3])}`);
  console.log(`  ${ms.toFixed(2)} ms per forward (median of 20)\n`);
}

// The paper's tutorial shape, without scores: output only, sync and async.
const x = random([64, 5, dModel], 12);
const syncMs = await time(() => encoderSelf.forwardSync(x), 30);
const asyncMs = await time(() => encoderSelf.forward(x), 30);
console.log(`B64 T5 E512 H8: ${syncMs.toFixed(2)} ms sync, ${asyncMs.toFixed(2)} ms async (medians of 30)`);
