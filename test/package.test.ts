import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

// What a user gets from npm: the packed tarball, installed offline with install scripts off and no compiler on
// PATH, loading the prebuilt binary through require and through import.
const root = path.join(__dirname, '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fastmha-pack-'));
const app = path.join(work, 'app');
const bin = path.join(work, 'bin'); // PATH for the install and the runs: node alone, no cc, c++, make or cmake
let tarball = '';
// prebuildify's file name: the C library is a tag on Linux (glibc or musl), absent elsewhere.
const glibc = Boolean((process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime);
const binaryName = process.platform !== 'linux' ? 'fastmha.node' : glibc ? 'fastmha.glibc.node' : 'fastmha.musl.node';

const npmCli = process.env.npm_execpath?.endsWith('npm-cli.js')
  ? process.env.npm_execpath
  : path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
const bareEnv = () => ({ PATH: bin, HOME: process.env.HOME ?? work, npm_config_cache: process.env.npm_config_cache });
const run = (args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) =>
  execFileSync(process.execPath, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

// A forward pass whose checksum the require and import runs print.
const forward = `
  const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 4, seed: 7 });
  const x = new Float32Array(2 * 3 * 8).map((_, i) => Math.sin(i));
  const { output } = mha.forwardSync({ data: x, shape: [2, 3, 8] }, { causal: true });
  const sum = output.data.reduce((a, b) => a + b, 0);
  console.log(JSON.stringify({ sum, shape: output.shape, isa: cpuInfo().isa }));`;

// The app depends on the tarball, with a lockfile pinning fastmha's dependencies to the versions this repository
// locked: offline, npm then takes their tarballs from its cache (filled by this repository's own npm ci), where
// resolving version ranges would need registry metadata that npm ci does not cache.
function writeApp(): void {
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const resolved = `file:${path.relative(app, tarball)}`;
  const integrity = `sha512-${crypto.createHash('sha512').update(fs.readFileSync(tarball)).digest('base64')}`;
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { fastmha: resolved } },
    'node_modules/fastmha': {
      version: pkg.version, resolved, integrity, hasInstallScript: true, dependencies: pkg.dependencies, engines: pkg.engines,
    },
  };
  for (const [key, entry] of Object.entries(lock.packages as Record<string, { dev?: boolean }>)) {
    if (key !== '' && !entry.dev) packages[key] = entry; // the runtime closure: what is not dev-only
  }
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, dependencies: { fastmha: resolved } }));
  fs.writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }));
}

beforeAll(() => {
  if (process.platform !== 'linux') return;
  // dist/ is already built (npm test builds it first): packing with scripts off leaves it untouched while other
  // suites import it.
  run([path.join(root, 'scripts', 'prebuild.js')], root);
  tarball = path.join(work, run([npmCli, 'pack', '--silent', '--ignore-scripts', '--pack-destination', work], root).trim().split('\n').pop()!);
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.mkdirSync(app);
  writeApp();
  run([npmCli, 'ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], app, bareEnv());
}, 600_000);

// The install runs with PATH cut down to node alone, a POSIX notion; the hosted matrix covers the others.
describe.runIf(process.platform === 'linux')('the npm package', () => {
  it('packs prebuilt binaries for linux-x64 (and linux-arm64 where cross-compiled) under 2 MiB', () => {
    expect(fs.statSync(tarball).size).toBeLessThan(2 * 2 ** 20);
    const installed = path.join(app, 'node_modules', 'fastmha');
    expect(fs.existsSync(path.join(installed, 'prebuilds', `linux-${process.arch}`, binaryName))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false); // nothing was compiled at install
    if (process.arch === 'x64' && fs.existsSync(path.join(root, 'prebuilds', 'linux-arm64'))) {
      expect(fs.existsSync(path.join(installed, 'prebuilds', 'linux-arm64', 'fastmha.glibc.node'))).toBe(true);
    }
  });

  it('runs a forward pass through require and through import, with no compiler and no install script', () => {
    const cjs = run(['-e', `const { MultiHeadAttention, cpuInfo } = require('fastmha');${forward}`], app, bareEnv());
    const esm = run(
      ['--input-type=module', '-e', `import { MultiHeadAttention, cpuInfo } from 'fastmha';${forward}`], app, bareEnv(),
    );
    const fromCjs = JSON.parse(cjs), fromEsm = JSON.parse(esm);
    expect(fromCjs.shape).toEqual([2, 3, 8]);
    expect(Number.isFinite(fromCjs.sum)).toBe(true);
    expect(fromEsm).toEqual(fromCjs);
  });

  it.runIf(glibc)('needs nothing newer than glibc 2.32 and GCC 7 libstdc++ (the README says so)', () => {
    const binary = path.join(root, 'prebuilds', `linux-${process.arch}`, 'fastmha.glibc.node');
    const symbols = execFileSync('objdump', ['-T', binary], { encoding: 'utf8' });
    const newest = (prefix: string) =>
      [...symbols.matchAll(new RegExp(`${prefix}_([\\d.]+)`, 'g'))]
        .map((m) => m[1].split('.').map(Number))
        .reduce((a, b) => (a.map((x, i) => x - (b[i] ?? 0)).find((d) => d !== 0)! > 0 ? a : b));
    expect(newest('GLIBC').join('.')).toBe('2.32');
    expect(newest('GLIBCXX')[2]).toBeLessThanOrEqual(24); // 3.4.24: GCC 7
    expect(fs.readFileSync(path.join(root, 'README.md'), 'utf8')).toMatch(/glibc 2\.32/);
  });

  it('says what is missing, with a code, when no binary fits', () => {
    const copy = path.join(work, 'nobinary');
    fs.cpSync(path.join(app, 'node_modules'), path.join(copy, 'node_modules'), { recursive: true, dereference: true });
    fs.rmSync(path.join(copy, 'node_modules', 'fastmha', 'prebuilds'), { recursive: true });
    const probe = `try { require('fastmha') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`;
    const { code, message } = JSON.parse(run(['-e', probe], copy, bareEnv()));
    expect(code).toBe('FASTMHA_NO_BINARY');
    expect(message).toContain(`${process.platform}-${process.arch}`);
    expect(message).toMatch(/glibc \d|musl/);
    expect(message).toContain(`Node-API ${process.versions.napi}`);
    expect(message).toMatch(/npm rebuild fastmha/);
  });

  it('passes publint and are-the-types-wrong', () => {
    const bins = path.join(root, 'node_modules', '.bin');
    execFileSync(path.join(bins, 'publint'), ['--strict'], { cwd: root, encoding: 'utf8' });
    execFileSync(path.join(bins, 'attw'), [tarball, '--format', 'ascii'], { cwd: root, encoding: 'utf8' });
  });
});
