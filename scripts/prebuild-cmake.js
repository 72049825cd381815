#!/usr/bin/env node
'use strict';
// Stands in for node-gyp when prebuildify runs it (scripts/prebuild.js): takes node-gyp's arguments
// (rebuild --target=... --arch=... --release) and builds with cmake-js into ./build/Release of the current
// directory, the staging folder prebuildify collects from. Node-API needs no per-version headers, so --target
// and --devdir are ignored; FASTMHA_TOOLCHAIN names a CMake toolchain file for cross-compiling.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = ['rebuild', '--directory', root, '--out', path.join(process.cwd(), 'build')];
if (process.argv.includes('--debug')) args.push('--debug');
if (process.env.FASTMHA_TOOLCHAIN) args.push(`--CDCMAKE_TOOLCHAIN_FILE=${path.resolve(root, process.env.FASTMHA_TOOLCHAIN)}`);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const result = spawnSync(process.execPath, [cmakeJs, ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
