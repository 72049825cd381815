// Builds and runs the C++ tests of native/core (plain C++, no Node headers) with CMake.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const build = path.join(root, 'build', 'core-tests');

it('native/core C++ tests pass', () => {
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: root, encoding: 'utf8' });
  run('cmake', ['-S', '.', '-B', build, '-DFASTMHA_CORE_TESTS=ON', '-DCMAKE_BUILD_TYPE=Release']);
  run('cmake', ['--build', build, '--target', 'core_tests', '--parallel']);
  const out = run(path.join(build, 'core_tests'), []);
  expect(out).toMatch(/core tests: \d+ passed, 0 failed/);
  expect(out).not.toMatch(/FAIL/);
}, 300_000);
