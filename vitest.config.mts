import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// Every kernel path this CPU can run gets the layer's reference tests once, forced with FASTMHA_ISA (as Highway
// runs each test per compiled target). The other suites run once, on the default path.
function supportedIsas(): string[] {
  if (process.arch === 'arm64') return ['scalar', 'neon'];
  let cpu = '';
  try {
    cpu = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return ['scalar'];
  }
  const has = (flag: string) => new RegExp(`\\b${flag}\\b`).test(cpu);
  return ['scalar', ...(has('avx2') && has('fma') ? ['avx2'] : []), ...(has('avx512f') ? ['avx512'] : [])];
}

const perIsa = ['test/forward.test.ts', 'test/isa.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Native threads and worker tests: forks isolate a crash to one file, and FASTMHA_ISA reaches the addon.
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'default', include: ['test/**/*.test.ts'], exclude: perIsa } },
      ...supportedIsas().map((isa) => ({
        extends: true,
        test: { name: isa, include: perIsa, env: { FASTMHA_ISA: isa } },
      })),
    ],
  },
});
