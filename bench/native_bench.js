'use strict';
// Builds the C++ benchmarks of native/core (bench/gemm.cc, bench/softmax.cc) with CMake and runs them.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const build = path.join(root, 'build', 'bench');

function buildBench(target) {
  const quiet = { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] };
  execFileSync('cmake', ['-S', '.', '-B', build, '-DFASTMHA_BENCH=ON', '-DCMAKE_BUILD_TYPE=Release'], quiet);
  execFileSync('cmake', ['--build', build, '--target', target, '--parallel'], quiet);
  return path.join(build, target);
}

function benchGemm(args, options = {}) {
  const exe = buildBench('bench_gemm');
  // OpenBLAS's idle threads spin for 2^28 cycles after each call, taking the cores from the run after it; runs
  // alternate, so a short spin keeps the comparison fair to both sides.
  const env = { OPENBLAS_THREAD_TIMEOUT: '4', ...process.env };
  return execFileSync(exe, args, { env, ...options });
}

function benchSoftmax(args, options = {}) {
  return execFileSync(buildBench('bench_softmax'), args, options);
}

/** FMA peak in GFLOP/s measured on this machine, by thread count. */
function fmaPeaks(threadCounts) {
  const out = benchGemm(['--peak-only', '--threads', threadCounts.join(',')], { encoding: 'utf8' });
  return Object.fromEntries(out.trim().split('\n').map((l) => JSON.parse(l)).map((r) => [r.threads, r.peak_gflops]));
}

module.exports = { benchGemm, benchSoftmax, fmaPeaks };
