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
const isas = supportedIsas();
// A kernel path this CPU cannot run is not tested here (Debian's qemu-user, which the tests use, has no AVX-512:
// "TCG doesn't support requested feature: avx512f"): say so, rather than let a green run look like it covered every
// path. Once: the config is loaded again in each forked test process, which inherits the variable.
const untested = process.arch === 'x64' ? ['avx2', 'avx512'].filter((isa) => !isas.includes(isa)) : [];
if (untested.length > 0 && !process.env.FASTMHA_UNTESTED_SAID) {
  process.env.FASTMHA_UNTESTED_SAID = '1';
  console.warn(`fastmha: this CPU cannot run the ${untested.join(' and ')} kernels; their tests need one that can`);
}

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Native threads and worker tests: forks isolate a crash to one file, and FASTMHA_ISA reaches the addon.
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'default', include: ['test/**/*.test.ts'], exclude: perIsa } },
      ...isas.map((isa) => ({
        extends: true,
        test: { name: isa, include: perIsa, env: { FASTMHA_ISA: isa } },
      })),
    ],
  },
});
