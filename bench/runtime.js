'use strict';
// `npm run bench:runtime [-- --json]`: what a server feels besides raw speed, side by side with onnxruntime-node
// where it has an equivalent:
//   overhead   per-call cost of a tiny layer (B1 T1 E64 H2): forwardSync, forward, and ORT's session.run
//   event loop p99 / max lateness of a 1 ms timer while 4 bert-size forwards (B8 T128 E768 H12) stay in flight
//   oversubscribed  median and p99 of a small call (B1 T12 E512 H8) awaited one at a time, with as many threads as
//              CPUs and with twice as many (setThreads past the CPUs: a thread of a call may wait for another that has
//              no CPU); fastmha only
//   soak       RSS growth over 20k forwards, and over 2k layers created and disposed
// Blocks alternate between the sides; medians. Prints a table, or JSON lines with --json; --only <part> runs one.
const ort = require('onnxruntime-node');
const { MultiHeadAttention, Tensor, cpuInfo, getThreads, setThreads } = require('..');
const { attentionModel } = require('./onnx_model');

const json = process.argv.includes('--json');
// --only overhead|event-loop|oversubscribed|soak runs one part.
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const part = (name) => only === undefined || only === name;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const random = (n) => new Float32Array(n).map(() => Math.random() * 2 - 1);
const now = () => Number(process.hrtime.bigint()) / 1e3; // µs
const rows = [];
const report = (row) => {
  rows.push(row);
  if (json) console.log(JSON.stringify(row));
};

async function layerPair({ B, T, E, H }) {
  const mha = new MultiHeadAttention({ numHeads: H, keyDim: E / H, seed: 1 });
  const session = await ort.InferenceSession.create(
    attentionModel({ numHeads: H, embedDim: E, cross: false }, mha.getWeights()),
    { intraOpNumThreads: getThreads(), interOpNumThreads: 1, graphOptimizationLevel: 'all' },
  );
  const query = new Tensor(random(B * T * E), [B, T, E]);
  return { mha, session, query, feeds: { query: new ort.Tensor('float32', query.data, [B, T, E]) } };
}

async function overhead() {
  const { mha, session, query, feeds } = await layerPair({ B: 1, T: 1, E: 64, H: 2 });
  const out = new Float32Array(64);
  const sides = {
    sync: async (n) => { for (let i = 0; i < n; i++) mha.forwardSync(query, { out }); },
    async: async (n) => { for (let i = 0; i < n; i++) await mha.forward(query); },
    ort: async (n) => { for (let i = 0; i < n; i++) await session.run(feeds); },
  };
  const perCall = { sync: [], async: [], ort: [] };
  for (let block = 0; block < 30; block++) {
    for (const [name, run] of Object.entries(sides)) {
      const n = 500;
      const t0 = now();
      await run(n);
      if (block >= 3) perCall[name].push((now() - t0) / n); // the first blocks warm up JIT and caches
    }
  }
  for (const [name, xs] of Object.entries(perCall)) {
    const side = name === 'ort' ? 'onnxruntime-node' : `fastmha ${name}`;
    report({ bench: 'overhead', side, us_per_call: median(xs) });
  }
  mha.dispose();
}

// Lateness of a 1 ms interval timer while `inFlight` calls of `start()` are kept running for `ms`.
async function lateness(start, inFlight, ms) {
  const late = [];
  let last = now();
  const timer = setInterval(() => {
    const t = now();
    late.push(Math.max(0, (t - last) / 1e3 - 1));
    last = t;
  }, 1);
  const end = Date.now() + ms;
  let calls = 0;
  const lane = async () => {
    while (Date.now() < end) {
      await start();
      calls++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  clearInterval(timer);
  return { p99: quantile(late, 0.99), max: Math.max(...late), calls };
}

async function eventLoop() {
  const { mha, session, query, feeds } = await layerPair({ B: 8, T: 128, E: 768, H: 12 });
  const results = { fastmha: [], ort: [] };
  for (let round = 0; round < 3; round++) {
    results.fastmha.push(await lateness(() => mha.forward(query), 4, 2000));
    results.ort.push(await lateness(() => session.run(feeds), 4, 2000));
  }
  for (const [side, rs] of Object.entries(results)) {
    report({
      bench: 'event-loop', side: side === 'ort' ? 'onnxruntime-node' : 'fastmha forward',
      p99_ms: median(rs.map((r) => r.p99)), max_ms: median(rs.map((r) => r.max)),
      calls_per_s: median(rs.map((r) => r.calls / 2)),
    });
  }
  mha.dispose();
}

async function oversubscribed() {
  const cpus = getThreads();
  const mha = new MultiHeadAttention({ numHeads: 8, keyDim: 64, seed: 1 });
  const query = new Tensor(random(12 * 512), [1, 12, 512]);
  const perCall = new Map([[cpus, []], [2 * cpus, []]]);
  for (let block = 0; block < 23; block++) {
    for (const [threads, xs] of perCall) {
      setThreads(threads);
      for (let i = 0; i < 100; i++) {
        const t0 = now();
        await mha.forward(query);
        if (block >= 3) xs.push(now() - t0);
      }
    }
  }
  setThreads(cpus);
  for (const [threads, xs] of perCall) {
    const row = { bench: 'oversubscribed', side: 'fastmha forward', cpus, threads };
    report({ ...row, us_per_call: median(xs), p99_us: quantile(xs, 0.99) });
  }
  mha.dispose();
}

const rssMiB = () => process.memoryUsage.rss() / 2 ** 20;
const settle = async () => {
  global.gc?.();
  await new Promise((r) => setTimeout(r, 50));
};

async function soak() {
  const mha = new MultiHeadAttention({ numHeads: 8, keyDim: 64, seed: 1 });
  const query = new Tensor(random(2 * 16 * 512), [2, 16, 512]);
  for (let i = 0; i < 1000; i++) await mha.forward(query, { causal: i % 2 === 0 }); // warm: pools, scratch, JIT
  await settle();
  const before = rssMiB();
  for (let i = 0; i < 20000; i++) {
    if (i % 2) mha.forwardSync(query, { returnAttentionScores: i % 3 === 0 });
    else await mha.forward(query, { causal: i % 4 === 0 });
  }
  await settle();
  report({ bench: 'soak', side: 'fastmha', what: '20k forwards', rss_growth_mib: rssMiB() - before });
  mha.dispose();

  const cycle = async (i) => {
    const layer = new MultiHeadAttention({ numHeads: 4, keyDim: 64, seed: i });
    await layer.forward(new Tensor(random(256), [1, 1, 256]));
    layer.dispose();
  };
  for (let i = 0; i < 200; i++) await cycle(i);
  await settle();
  const start = rssMiB();
  for (let i = 0; i < 2000; i++) await cycle(i);
  await settle();
  report({ bench: 'soak', side: 'fastmha', what: '2k create/dispose', rss_growth_mib: rssMiB() - start });
}

(async () => {
  const ortVersion = ort.env.versions?.common ?? '';
  if (!json) console.log(`fastmha (${cpuInfo().isa}, ${getThreads()} threads) vs onnxruntime-node ${ortVersion}\n`);
  if (part('overhead')) await overhead();
  if (part('event-loop')) await eventLoop();
  if (part('oversubscribed')) await oversubscribed();
  if (part('soak')) await soak();
  if (json) return;
  const fmt = (x, d = 1) => (x === undefined ? '' : x.toFixed(d));
  for (const r of rows) {
    if (r.bench === 'overhead') console.log(`overhead    ${r.side.padEnd(18)} ${fmt(r.us_per_call)} µs per tiny call`);
    if (r.bench === 'event-loop') {
      console.log(`event loop  ${r.side.padEnd(18)} p99 ${fmt(r.p99_ms, 2)} ms, max ${fmt(r.max_ms, 2)} ms late ` +
        `(1 ms timer, 4 bert forwards in flight; ${fmt(r.calls_per_s)} calls/s)`);
    }
    if (r.bench === 'oversubscribed') {
      const call = `${fmt(r.us_per_call)} µs per B1 T12 call, p99 ${fmt(r.p99_us)} µs`;
      console.log(`threads     ${r.side.padEnd(18)} ${call}, at ${r.threads} threads on ${r.cpus} CPUs`);
    }
    if (r.bench === 'soak') {
      const sign = r.rss_growth_mib >= 0 ? '+' : '';
      console.log(`soak        ${r.what.padEnd(18)} RSS ${sign}${fmt(r.rss_growth_mib)} MiB`);
    }
  }
  console.log('\nGoals (issue 5): p99 < 2 ms; tiny call <= 3 µs sync, <= 15 µs async; RSS growth < 32 MiB.');
})();
