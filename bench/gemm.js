'use strict';
// `npm run bench:gemm [-- --json] [-- --threads 1,2] [-- --shape MxNxK]`: the GEMM of native/core alone, side by
// side with OpenBLAS when CMake finds it (bench/gemm.cc).
const { benchGemm } = require('./native_bench');

benchGemm(process.argv.slice(2), { stdio: 'inherit' });
