'use strict';
// npm run prebuild: prebuildify writes prebuilds/<platform>-<arch>/fastmha.napi[.glibc].node, one Node-API
// binary per platform that serves every Node >= 18, found at run time by node-gyp-build and shipped by npm pack.
// prebuildify drives node-gyp; scripts/prebuild-cmake.js stands in for it and builds with cmake-js, in
// build/prebuild/<arch> so the development build (build/Release) is left alone. On linux-x64, linux-arm64 is
// cross-compiled too when Debian's aarch64 toolchain (g++-aarch64-linux-gnu) is on PATH.
//   --host-only   build for this machine only
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const prebuildify = require('prebuildify');

const root = path.join(__dirname, '..');
const onPath = (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

const targets = [{ arch: process.arch }];
if (!process.argv.includes('--host-only') && process.platform === 'linux' && process.arch === 'x64') {
  if (onPath('aarch64-linux-gnu-g++')) {
    targets.push({ arch: 'arm64', toolchain: 'cmake/aarch64-linux-gnu.cmake', stripBin: 'aarch64-linux-gnu-strip' });
  } else {
    console.warn('fastmha prebuild: aarch64-linux-gnu-g++ not found, linux-arm64 skipped');
  }
}

function build(target) {
  const staging = path.join(root, 'build', 'prebuild', target.arch);
  fs.mkdirSync(staging, { recursive: true });
  // prebuildify copies process.env into the builder's environment when called.
  if (target.toolchain) process.env.FASTMHA_TOOLCHAIN = target.toolchain;
  else delete process.env.FASTMHA_TOOLCHAIN;
  return new Promise((resolve, reject) => {
    prebuildify(
      {
        name: 'fastmha',
        napi: true,
        arch: target.arch,
        tagLibc: process.platform === 'linux',
        strip: process.platform !== 'win32',
        stripBin: target.stripBin ?? 'strip',
        nodeGyp: `"${process.execPath}" "${path.join(__dirname, 'prebuild-cmake.js')}"`,
        shell: true, // nodeGyp is a command line: node and the script
        cwd: staging,
        out: root,
      },
      (err) => (err ? reject(err) : resolve()),
    );
  });
}

(async () => {
  for (const target of targets) {
    await build(target);
    const dir = path.join(root, 'prebuilds', `${process.platform}-${target.arch}`);
    for (const f of fs.readdirSync(dir)) console.log(`prebuilt ${path.relative(root, path.join(dir, f))}`);
  }
})().catch((err) => {
  console.error(`fastmha prebuild failed: ${err.message}`);
  process.exit(1);
});
