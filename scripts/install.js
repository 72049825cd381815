'use strict';
// The package's install step: use a prebuilt binary when one fits this platform, else build from source with
// cmake-js. When both fail, say what is missing instead of leaving a raw compiler log as the last word.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');

function prebuiltLoads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

if (process.env.FASTMHA_BUILD_FROM_SOURCE !== '1' && prebuiltLoads()) process.exit(0);

const cmakeJs = (() => {
  try {
    return require.resolve('cmake-js/bin/cmake-js');
  } catch {
    return null;
  }
})();
if (!cmakeJs) fail('cmake-js is not installed (npm install cmake-js)');
const built = spawnSync(process.execPath, [cmakeJs, 'compile'], { cwd: root, stdio: 'inherit' });
if (built.status !== 0) {
  fail('building from source needs CMake >= 3.15 and a C++17 compiler (g++ or clang++) on PATH');
}

function fail(what) {
  console.error(
    `fastmha: no prebuilt binary fits ${process.platform}-${process.arch} (Node-API ${process.versions.napi}), ` +
      `and ${what}.`,
  );
  process.exit(1);
}
