import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  cpuInfo,
  getThreads,
  MultiHeadAttention,
  setThreads,
  Tensor,
  type AttentionResult,
  type AttentionResultWithScores,
  type CpuInfo,
} from '../dist/index.js';
import { randomTensor } from './helpers';

const root = path.join(__dirname, '..');

describe('module entry points', () => {
  it('works through require and through import', () => {
    const script = (load: string) => `${load}
      const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 4 });
      const x = new Tensor(new Float32Array(2 * 3 * 8).fill(0.5), [2, 3, 8]);
      mha.forward(x).then((r) => console.log(JSON.stringify(r.output.shape)));`;
    const run = (args: string[]) => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' }).trim();
    expect(run(['-e', script("const { MultiHeadAttention, Tensor } = require('fastmha');")])).toBe('[2,3,8]');
    expect(run(['--input-type=module', '-e', script("import { MultiHeadAttention, Tensor } from 'fastmha';")])).toBe('[2,3,8]');
  });
});

describe('types', () => {
  it('narrows attentionScores when asked for', () => {
    const mha = new MultiHeadAttention({ numHeads: 1, keyDim: 2 });
    const x = randomTensor([1, 1, 2], 1);
    expectTypeOf(mha.forward(x, { returnAttentionScores: true })).toEqualTypeOf<Promise<AttentionResultWithScores>>();
    expectTypeOf(mha.forward(x)).toEqualTypeOf<Promise<AttentionResult>>();
    expectTypeOf(mha.forwardSync(x).output).toEqualTypeOf<Tensor>();
    expectTypeOf(mha.forwardSync(x).attentionScores).toEqualTypeOf<Tensor | undefined>();
    expectTypeOf(cpuInfo()).toEqualTypeOf<CpuInfo>();
    expectTypeOf(MultiHeadAttention.fromTorch).parameter(1).toHaveProperty('embedDim').toEqualTypeOf<number>();
  });
});

describe('runtime', () => {
  it('reports the CPU path and features', () => {
    const info = cpuInfo();
    expect(['avx512', 'avx2', 'neon', 'scalar']).toContain(info.isa);
    expect(Array.isArray(info.features)).toBe(true);
    if (process.arch === 'x64') expect(info.features).toContain('sse2');
  });

  it('sizes the pool, and gives the same results at any size or per-layer thread cap', async () => {
    const before = getThreads();
    expect(before).toBeGreaterThanOrEqual(1);
    const x = randomTensor([3, 33, 16], 2);
    const mha = new MultiHeadAttention({ numHeads: 4, keyDim: 4, seed: 5 });
    const expected = Array.from(mha.forwardSync(x, { causal: true }).output.data);
    for (const n of [1, 3, 2]) {
      setThreads(n);
      expect(getThreads()).toBe(n);
      expect(Array.from((await mha.forward(x, { causal: true })).output.data)).toEqual(expected);
    }
    const capped = new MultiHeadAttention({ numHeads: 4, keyDim: 4, seed: 5, threads: 1 });
    expect(Array.from(capped.forwardSync(x, { causal: true }).output.data)).toEqual(expected);
    setThreads(before);
  });
});

describe('async calls', () => {
  it('computes off the JS thread: timers keep firing while long forwards are in flight', async () => {
    const mha = new MultiHeadAttention({ numHeads: 8, keyDim: 64, seed: 1 });
    const x = randomTensor([1, 1024, 512], 11);
    const t0 = performance.now();
    mha.forwardSync(x, { causal: true });
    const syncMs = performance.now() - t0;
    // Four forwards queued take at least 4 x syncMs; a 1 ms timer must tick through them. Were the loop blocked,
    // it would fire about once per forward.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const started = performance.now();
    await Promise.all(Array.from({ length: 4 }, () => mha.forward(x, { causal: true })));
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(elapsed).toBeGreaterThan(2 * syncMs);
    expect(ticks).toBeGreaterThan(elapsed / 10);
    mha.dispose();
  });

  it('64 concurrent forwards each equal the sync result', async () => {
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 8, seed: 3 });
    // Lengths 1 to 65: the smallest calls run inline, the others on the pool.
    const inputs = Array.from({ length: 64 }, (_, i) => randomTensor([2, 1 + (i % 9) * 8, 16], 100 + i));
    const expected = inputs.map((x) => Array.from(mha.forwardSync(x).output.data));
    const results = await Promise.all(inputs.map((x) => mha.forward(x)));
    results.forEach((r, i) => expect(Array.from(r.output.data)).toEqual(expected[i]));
  });

  it('an aborted signal rejects with its reason', async () => {
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 8 });
    const x = randomTensor([2, 5, 16], 4);
    await expect(mha.forward(x, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(() => mha.forwardSync(x, { signal: AbortSignal.abort() })).toThrow(expect.objectContaining({ name: 'AbortError' }));
    const controller = new AbortController();
    const pending = mha.forward(randomTensor([8, 64, 16], 5), { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    // The layer still works afterwards.
    expect((await mha.forward(x, { signal: new AbortController().signal })).output.shape).toEqual([2, 5, 16]);
  });

  it('an aborted call stops: never writes an ordinary `out`, skipped if queued, cut short if running', async () => {
    const mha = new MultiHeadAttention({ numHeads: 8, keyDim: 64, seed: 5 });
    const long = randomTensor([1, 2048, 512], 7); // 100-250 ms each here: calls behind them wait in the queue
    const x = randomTensor([2, 9, 512], 8);
    // An ordinary `out` is filled from a private buffer when the call completes: never once it was aborted, even
    // when the arithmetic had started (aborted 20 ms in).
    const running = new Float32Array(long.data.length).fill(Number.NaN);
    const first = new AbortController();
    const p0 = mha.forward(long, { out: running, signal: first.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    first.abort();
    await expect(p0).rejects.toMatchObject({ name: 'AbortError' });
    // A shared `out` is written in place by the pool: aborted in the middle of its arithmetic (attention over 4096
    // tokens takes a few hundred ms), the call stops before the output projection and leaves it unwritten.
    await mha.forward(x); // jobs run in order: the one aborted above has stopped once this one is done
    const longer = randomTensor([1, 4096, 512], 9);
    const midway = new Float32Array(new SharedArrayBuffer(longer.data.length * 4)).fill(Number.NaN);
    const third = new AbortController();
    const pm = mha.forward(longer, { out: midway, signal: third.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    third.abort();
    await expect(pm).rejects.toMatchObject({ name: 'AbortError' });
    const ahead = [mha.forward(long), mha.forward(long)]; // queued behind what is left of it
    // Aborted while queued behind them: skipped, so even a shared `out` stays unwritten.
    const poisonedShared = () => new Float32Array(new SharedArrayBuffer(2 * 9 * 512 * 4)).fill(Number.NaN);
    const shared = poisonedShared();
    const second = new AbortController();
    const p1 = mha.forward(x, { out: shared, signal: second.signal });
    const kept = poisonedShared(); // behind it, with a signal that never fires: computed
    const p2 = mha.forward(x, { out: kept, signal: new AbortController().signal });
    second.abort();
    await expect(p1).rejects.toMatchObject({ name: 'AbortError' });
    await Promise.all([...ahead, p2]);
    expect(running.every(Number.isNaN)).toBe(true);
    expect(midway.every(Number.isNaN)).toBe(true);
    expect(shared.every(Number.isNaN)).toBe(true);
    expect(Array.from(kept)).toEqual(Array.from(mha.forwardSync(x).output.data));
  });

  it('dispose during a call lets the call finish; Symbol.dispose disposes', async () => {
    const x = randomTensor([2, 5, 16], 6);
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 8 });
    const expected = Array.from(mha.forwardSync(x).output.data);
    const pending = mha.forward(x);
    mha.dispose();
    expect(Array.from((await pending).output.data)).toEqual(expected);
    const scoped = new MultiHeadAttention({ numHeads: 2, keyDim: 8 });
    scoped[Symbol.dispose]();
    expect(() => scoped.forwardSync(x)).toThrow(/disposed/);
  });

  it('loads and computes in 8 worker threads at once', async () => {
    const code = `
      const { parentPort } = require('node:worker_threads');
      const { MultiHeadAttention, Tensor } = require(${JSON.stringify(root)});
      const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 4, seed: 9 });
      const x = new Tensor(new Float32Array(24).map((_, i) => Math.sin(i)), [1, 3, 8]);
      mha.forward(x).then((r) => parentPort.postMessage(Array.from(r.output.data)));`;
    const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 4, seed: 9 });
    const x = new Tensor(new Float32Array(24).map((_, i) => Math.sin(i)), [1, 3, 8]);
    const expected = Array.from(mha.forwardSync(x).output.data);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => new Promise((resolve, reject) => {
        const w = new Worker(code, { eval: true });
        w.once('message', (m) => { resolve(m); void w.terminate(); });
        w.once('error', reject);
      })),
    );
    for (const r of results) expect(r).toEqual(expected);
  });

  it('survives 102 workers terminated mid-forward (the addon loaded first in them) and exits cleanly with work in flight', () => {
    const out = execFileSync(process.execPath, [path.join(__dirname, 'fixtures', 'worker_churn.js'), '34'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(out.trim()).toBe('clean');
  });
});
