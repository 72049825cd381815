'use strict';
// `npm run bench:gemm [-- --json] [-- --threads 1,2] [-- --shape MxNxK]`: builds bench/gemm.cc against native/core
// (with OpenBLAS for comparison when CMake finds it) and runs it.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const build = path.join(root, 'build', 'bench');
const quiet = { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] };
execFileSync('cmake', ['-S', '.', '-B', build, '-DFASTMHA_BENCH=ON', '-DCMAKE_BUILD_TYPE=Release'], quiet);
execFileSync('cmake', ['--build', build, '--target', 'bench_gemm', '--parallel'], quiet);
// OpenBLAS's idle threads spin for 2^28 cycles after each call, taking the cores from the run after it; runs
// alternate, so a short spin keeps the comparison fair to both sides.
const env = { OPENBLAS_THREAD_TIMEOUT: '4', ...process.env };
execFileSync(path.join(build, 'bench_gemm'), process.argv.slice(2), { stdio: 'inherit', env });
