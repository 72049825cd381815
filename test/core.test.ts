// The C++ tests of native/core (plain C++, no Node headers), built with CMake: on this machine; under qemu-x86_64
// with older CPU models, where anything outside a kernel file compiled for a newer instruction set would stop
// with SIGILL and the dispatch must choose an older path; and cross-compiled for aarch64 (NEON) under qemu-aarch64.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const run = (cmd: string, args: string[]) =>
  execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function build(dir: string, extra: string[] = []): string {
  const out = path.join(root, 'build', dir);
  run('cmake', ['-S', '.', '-B', out, '-DFASTMHA_CORE_TESTS=ON', '-DCMAKE_BUILD_TYPE=Release', ...extra]);
  run('cmake', ['--build', out, '--target', 'core_tests', '--parallel']);
  return path.join(out, 'core_tests');
}

function expectPassed(out: string): void {
  expect(out).toMatch(/core tests: \d+ passed, 0 failed/);
  expect(out).not.toMatch(/FAIL/);
}

describe.runIf(process.arch === 'x64')('native/core on x86-64', () => {
  const binary = build('core-tests');

  it('passes on this CPU, every kernel table it supports', () => expectPassed(run(binary, [])));

  // Out-of-bounds reads that change no result (past an edge tile, a panel, a scratch block), and undefined
  // behaviour, fail here: AddressSanitizer and UBSan, any report fatal. And data races in the pool, the GEMM's
  // and attention's tasks and cancellation: ThreadSanitizer. A memory order too weak passes every other run on
  // x86, whose stores are ordered anyway, and would corrupt results on an ARM server; a report makes the run exit
  // with a failure.
  it.each([
    ['AddressSanitizer and UBSan', 'core-tests-sanitized', '-fsanitize=address,undefined -fno-sanitize-recover=all',
      'AddressSanitizer'],
    ['ThreadSanitizer', 'core-tests-tsan', '-fsanitize=thread', 'ThreadSanitizer'],
  ])('passes under %s', (_name, dir, sanitize, marker) => {
    const out = run(build(dir, [`-DCMAKE_CXX_FLAGS=${sanitize} -g -fno-omit-frame-pointer`]), []);
    expect(out).toContain(`built with ${marker}`);
    expectPassed(out);
  }, 300_000);

  // The dispatch tests on emulated CPUs (tools installed by .ci/run: qemu-user).
  it.each([
    ['Nehalem', 'scalar'], // SSE4.2, no AVX
    ['Haswell', 'avx2'], // AVX2 + FMA, no AVX-512
  ])('passes under qemu-x86_64 -cpu %s, choosing %s', (cpu, isa) => {
    const out = run('qemu-x86_64', ['-cpu', cpu, binary, '--expect-default', isa]);
    expectPassed(out);
    expect(out).toContain(`default kernels: ${isa}`);
    expect(out).not.toContain('kernels avx512');
  });
});

it('passes for aarch64 (NEON), cross-compiled and run under qemu-aarch64', () => {
  if (!existsSync('/usr/bin/aarch64-linux-gnu-g++')) {
    throw new Error('needs g++-aarch64-linux-gnu and qemu-user (Debian packages; .ci/run installs them)');
  }
  const binary = build('core-tests-arm64', [`-DCMAKE_TOOLCHAIN_FILE=${path.join(root, 'cmake', 'aarch64-linux-gnu.cmake')}`]);
  const out = run('qemu-aarch64', [binary, '--expect-default', 'neon']);
  expectPassed(out);
  expect(out).toContain('kernels neon: MR 8 NR 12');
}, 300_000);
