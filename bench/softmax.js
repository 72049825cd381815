'use strict';
// `npm run bench:softmax [-- --json]`: the online softmax kernel of every instruction set this CPU runs, against
// the scalar path (bench/softmax.cc).
const { benchSoftmax } = require('./native_bench');

benchSoftmax(process.argv.slice(2), { stdio: 'inherit' });
