// `npm run test:sanitized [-- vitest options]`: the suites that drive the addon (forward, validation, api, weights,
// isa) against a build of it with AddressSanitizer and UBSan, any report fatal. They reach the binding's checks and
// input copies, jobs, worker threads and cancellation, where an overflow or a use after free may change no result
// and crash nothing in a test run, then corrupt a server. native/core alone gets the same in test/core.test.ts.
// Left out: memory.test.ts (it bounds the peak RSS, which the sanitizer's shadow memory inflates), and the suites
// that test packaging or run other programs (core, emulated, package).
// The build and the run happen in a copy of the tree, build/sanitized/, so that build/Release stays the normal build.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const copy = path.join(root, 'build', 'sanitized');
const suites = ['forward', 'validation', 'api', 'weights', 'isa'].map((name) => `test/${name}.test.ts`);
const run = (cmd, args, options = {}) => execFileSync(cmd, args, { cwd: copy, stdio: 'inherit', ...options });

// The tree as git sees it (tracked and new files, not ignored ones), plus the compiled TypeScript.
const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root })
  .toString()
  .split('\0')
  .filter((file) => file && fs.existsSync(path.join(root, file)));
fs.rmSync(copy, { recursive: true, force: true });
for (const file of [...files, 'dist']) {
  fs.cpSync(path.join(root, file), path.join(copy, file), { recursive: true });
}
fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));

const flags = '-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer';
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
run(bin('cmake-js'), [
  'build', `--CDCMAKE_CXX_FLAGS_RELEASE=${flags}`, '--CDCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined',
]);

// The sanitizers' runtimes must be loaded before anything else in a Node process not built with them.
const runtime = (name) => execFileSync('gcc', [`-print-file-name=${name}`]).toString().trim();
run(bin('vitest'), ['run', ...suites, ...process.argv.slice(2)], {
  env: {
    ...process.env,
    LD_PRELOAD: `${runtime('libasan.so')} ${runtime('libubsan.so')}`,
    // Node and V8 keep some allocations until exit by design: a leak report would be about them.
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1',
    UBSAN_OPTIONS: 'print_stacktrace=1',
  },
});
