'use strict';
// `npm run bench [-- --json] [-- --threads 1,2] [-- --shapes bert,B1T16E512H8] [-- --ort-ops]`: the whole layer
// (projections included) side by side with onnxruntime-node running the same layer as an ONNX graph
// (bench/onnx_model.js) with the same weights. Runs alternate in blocks in one process; medians; both sides async
// (forward() / session.run()).
// --ort-ops adds where onnxruntime's time goes, by operator (its profiler, on a separate session after the timed runs):
// how close its MatMuls run to the FMA peak bounds what any layer can gain over it on a shape the projections dominate.
// One thread: on Linux each side's runs happen on the same CPU, one CPU at a time (a child process under taskset
// per CPU, samples merged). Unpinned, the two sides' work ran on whichever CPUs the scheduler chose, and on a shared
// machine one CPU can be much slower than the other for minutes: the ratio measured the CPUs, not the code.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const ort = require('onnxruntime-node');
const { MultiHeadAttention, Tensor, setThreads, cpuInfo } = require('..');
const { attentionModel } = require('./onnx_model');
const { fmaPeaks } = require('./native_bench');

const SHAPES = {
  paper: { B: 64, T: 5, E: 512, H: 8 },
  bert: { B: 8, T: 128, E: 768, H: 12 },
  long: { B: 1, T: 2048, E: 512, H: 8 },
  cross: { B: 1, T: 12, S: 9, E: 512, H: 8 },
};
const ANCHOR_MS = { paper: [8.3, 4.7], bert: [56, 31.5], long: [160, 78], cross: [0.33, 0.24] };
// Any other shape by its sizes, e.g. --shapes B32T64E384H12 (an embedding model's batch) or B1T1S512E512H8 (cross-
// attention from one query, S the memory's length).
const SHAPE_PATTERN = /^B(\d+)T(\d+)(?:S(\d+))?E(\d+)H(\d+)$/;
function shapeOf(name) {
  if (SHAPES[name]) return SHAPES[name];
  const m = SHAPE_PATTERN.exec(name);
  if (!m) throw new Error(`unknown shape ${name}: one of ${Object.keys(SHAPES).join(', ')}, or BnTn[Sn]EnHn`);
  const [B, T, S, E, H] = m.slice(1).map((x) => (x === undefined ? undefined : Number(x)));
  if (E % H) throw new Error(`${name}: E (${E}) is not a multiple of H (${H})`);
  return S === undefined ? { B, T, E, H } : { B, T, S, E, H };
}

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const json = args.includes('--json');
const threadCounts = option('--threads', '1,2').split(',').map(Number);
const shapeNames = option('--shapes', Object.keys(SHAPES).join(',')).split(',');
try {
  for (const name of shapeNames) shapeOf(name); // a typo fails before minutes of runs
} catch (err) {
  console.error(err.message);
  process.exit(2);
}
const seconds = Number(option('--seconds', '3'));
const child = args.includes('--child'); // one pinned measurement for the parent: its raw samples as JSON
const ortOps = args.includes('--ort-ops');

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const random = (n) => new Float32Array(n).map(() => Math.random() * 2 - 1);

// Multiply-adds of the layer, counted as 2 flops each: four projections and the two attention products.
const projectionFlops = ({ B, T, S = T, E }) => 2 * (B * T * E * E * 2 + B * S * E * E * 2);
const attentionFlops = ({ B, T, S = T, E, H }) => 2 * B * H * T * S * (E / H) * 2;
const flops = (shape) => projectionFlops(shape) + attentionFlops(shape);

// onnxruntime's own profile of `runs` calls: per call, the milliseconds of each operator type (MatMul, Add,
// MultiHeadAttention), summed over the graph's nodes of that type.
async function ortOperatorTimes(model, options, feeds, runs) {
  const prefix = path.join(os.tmpdir(), `fastmha-ort-${process.pid}-${Date.now()}`);
  const profiled = { ...options, enableProfiling: true, profileFilePrefix: prefix };
  const session = await ort.InferenceSession.create(model, profiled);
  for (let i = 0; i < runs; i++) await session.run(feeds);
  session.endProfiling();
  await session.release();
  const dir = path.dirname(prefix);
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(path.basename(prefix)));
  const events = files.flatMap((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
  for (const f of files) fs.rmSync(path.join(dir, f));
  const calls = events.filter((e) => e.name === 'model_run');
  const perCall = calls.map(() => ({}));
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const i = calls.findIndex((c) => e.ts >= c.ts && e.ts <= c.ts + c.dur);
    if (i >= 0) perCall[i][e.args.op_name] = (perCall[i][e.args.op_name] ?? 0) + e.dur / 1000;
  }
  return perCall.slice(Math.min(3, perCall.length - 1)); // the first calls warm up
}

async function measure(name, threads) {
  const shape = shapeOf(name);
  const { B, T, E, H } = shape;
  const S = shape.S ?? T;
  const cross = shape.S !== undefined;
  setThreads(threads);
  const mha = new MultiHeadAttention({ numHeads: H, keyDim: E / H, seed: 1 });
  const weights = mha.getWeights();
  for (const [n, t] of Object.entries(weights)) if (n.endsWith('.bias')) t.data.set(random(t.data.length));
  mha.setWeights(weights);
  const model = attentionModel({ numHeads: H, embedDim: E, cross }, weights);
  const options = {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
  };
  const session = await ort.InferenceSession.create(model, options);
  const query = new Tensor(random(B * T * E), [B, T, E]);
  const memory = cross ? new Tensor(random(B * S * E), [B, S, E]) : undefined;
  const feeds = { query: new ort.Tensor('float32', query.data, [B, T, E]) };
  if (cross) feeds.memory = new ort.Tensor('float32', memory.data, [B, S, E]);
  const ours = () => mha.forward(query, { value: memory });
  const theirs = () => session.run(feeds);

  // Both compute the same function: a benchmark of different results would mean nothing.
  const [a, b] = [(await ours()).output.data, (await theirs()).output.data];
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
  if (!(maxDiff < 1e-3)) throw new Error(`${name}: fastmha and onnxruntime differ by ${maxDiff}`);

  // Alternate in blocks of ~100 ms with a pause between them: onnxruntime's intra-op threads spin for a while after
  // a run, which would take the cores from a run of ours that followed at once (and our pool from theirs).
  const oursMs = [], ortMs = [];
  const block = async (run, into) => {
    const t = performance.now();
    do {
      const t0 = performance.now();
      await run();
      into.push(performance.now() - t0);
    } while (performance.now() - t < 100);
    await new Promise((resolve) => setTimeout(resolve, 30));
  };
  await block(ours, []), await block(theirs, []); // warm-up
  const deadline = performance.now() + seconds * 1000;
  for (let round = 0; oursMs.length < 5 || performance.now() < deadline; round++) {
    if (round % 2) await block(ours, oursMs), await block(theirs, ortMs);
    else await block(theirs, ortMs), await block(ours, oursMs);
  }
  await session.release();
  mha.dispose();
  const opCalls = ortOps ? await ortOperatorTimes(model, options, feeds, Math.max(8, Math.min(40, oursMs.length))) : [];
  return { shape: name, B, T, S, E, H, threads, oursMs, ortMs, maxDiff, opCalls };
}

// The CPUs this process may run on (Linux), when taskset can pin a child to each; otherwise null.
function pinnableCpus() {
  if (process.platform !== 'linux') return null;
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    const list = /Cpus_allowed_list:\s*(\S+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];
    const cpus = list.split(',').flatMap((range) => {
      const [a, b = a] = range.split('-').map(Number);
      return Array.from({ length: b - a + 1 }, (_, i) => a + i);
    });
    return cpus.length > 1 ? cpus : null;
  } catch {
    return null;
  }
}

// One thread, both sides on one CPU at a time: a child per CPU, each given an equal share of the time.
function measurePinned(name, cpus) {
  const samples = { oursMs: [], ortMs: [], opCalls: [] };
  let row;
  for (const cpu of cpus) {
    const out = execFileSync('taskset', ['-c', String(cpu), process.execPath, __filename, '--child', '--threads', '1',
      '--shapes', name, '--seconds', String(seconds / cpus.length), ...(ortOps ? ['--ort-ops'] : [])],
      { encoding: 'utf8' });
    row = JSON.parse(out.trim().split('\n').pop());
    samples.oursMs.push(...row.oursMs);
    samples.ortMs.push(...row.ortMs);
    samples.opCalls.push(...row.opCalls);
  }
  return { ...row, ...samples, pinned_cpus: cpus };
}

(async () => {
  if (child) {
    console.log(JSON.stringify(await measure(shapeNames[0], 1)));
    return;
  }
  // The peak is measured before the shapes and again after, and the higher kept: on a shared host a second core can
  // be taken from us for a second or more, and a peak measured then is too low (once 102 GFLOP/s for 2 cores of 100).
  const peaks = fmaPeaks(threadCounts);
  const cpus = pinnableCpus();
  const rows = [];
  const matmulGflops = new Map(); // row -> onnxruntime's MatMul GFLOP/s, a fraction of the peak once it is known
  for (const threads of threadCounts) {
    for (const name of shapeNames) {
      const pinned = threads === 1 && cpus;
      const { oursMs, ortMs, opCalls, ...r } = pinned ? measurePinned(name, cpus) : await measure(name, threads);
      const shape = shapeOf(name);
      const ms = median(oursMs), ortMedian = median(ortMs);
      const row = {
        ...r,
        runs: oursMs.length,
        ms,
        ort_ms: ortMedian,
        isa: cpuInfo().isa,
        gflops: +(flops(shape) / ms / 1e6).toFixed(2),
        speedup_vs_ort: +(ortMedian / ms).toFixed(3),
        anchor_ort_ms: ANCHOR_MS[name]?.[threads - 1],
      };
      if (opCalls.length) {
        const ops = [...new Set(opCalls.flatMap(Object.keys))].sort();
        row.ort_ops_ms = Object.fromEntries(ops.map((op) => [op, +median(opCalls.map((c) => c[op] ?? 0)).toFixed(3)]));
        matmulGflops.set(row, projectionFlops(shape) / (row.ort_ops_ms.MatMul ?? NaN) / 1e6);
        const attentionMs = row.ort_ops_ms.MultiHeadAttention ?? NaN;
        row.ort_attention_gflops = +(attentionFlops(shape) / attentionMs / 1e6).toFixed(2);
      }
      rows.push(row);
    }
  }
  const peaksAfter = fmaPeaks(threadCounts);
  for (const t of threadCounts) peaks[t] = Math.max(peaks[t], peaksAfter[t]);
  for (const row of rows) {
    row.fraction_of_peak = +(row.gflops / peaks[row.threads]).toFixed(3);
    row.peak_gflops = peaks[row.threads];
    const matmul = matmulGflops.get(row);
    if (matmul !== undefined) row.ort_matmul_fraction_of_peak = +(matmul / peaks[row.threads]).toFixed(3);
    if (json) console.log(JSON.stringify(row));
  }
  if (json) return;
  console.log(`fastmha (${cpuInfo().isa}) vs onnxruntime-node ${ort.env.versions.node}: one layer incl. projections,` +
    ' fp32, async calls alternated in blocks, medians' +
    (cpus && threadCounts.includes(1) ? `; 1 thread: both sides on one CPU at a time (${cpus.join(', ')})\n` : '\n'));
  const width = Math.max(5, ...rows.map((r) => r.shape.length));
  console.log(`${'shape'.padEnd(width)} thr |   fastmha ms  GFLOP/s  of peak |   ORT ms  speedup | anchor ORT ms`);
  for (const r of rows) {
    console.log(
      `${r.shape.padEnd(width)} ${String(r.threads).padStart(3)} | ${r.ms.toFixed(3).padStart(12)}` +
        ` ${r.gflops.toFixed(1).padStart(8)} ${(100 * r.fraction_of_peak).toFixed(1).padStart(7)}% |` +
        ` ${r.ort_ms.toFixed(3).padStart(8)} ${r.speedup_vs_ort.toFixed(2).padStart(7)}x |` +
        ` ${String(r.anchor_ort_ms ?? '').padStart(8)}`,
    );
  }
  if (rows.some((r) => r.ort_ops_ms)) {
    console.log('\nonnxruntime by operator (its profiler, a separate session; medians per call, ms):');
    console.log(`${'shape'.padEnd(width)} thr |   MatMul  of peak | MultiHeadAttention  GFLOP/s |     Add`);
    for (const r of rows.filter((x) => x.ort_ops_ms)) {
      const o = r.ort_ops_ms;
      console.log(
        `${r.shape.padEnd(width)} ${String(r.threads).padStart(3)} | ${(o.MatMul ?? 0).toFixed(3).padStart(8)}` +
          ` ${(100 * r.ort_matmul_fraction_of_peak).toFixed(1).padStart(7)}% |` +
          ` ${(o.MultiHeadAttention ?? 0).toFixed(3).padStart(18)} ${r.ort_attention_gflops.toFixed(1).padStart(8)} |` +
          ` ${(o.Add ?? 0).toFixed(3).padStart(7)}`,
      );
    }
  }
  const peakList = threadCounts.map((t) => `${peaks[t]} GFLOP/s at ${t} thread(s)`).join(', ');
  console.log(`\nFMA peak measured here: ${peakList}`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
