// Run once per kernel path (vitest.config.mts): the forced path is the one in use.
import { expect, it } from 'vitest';
import { cpuInfo } from '../dist/index.js';

it('uses the instruction set FASTMHA_ISA forces', () => {
  expect(process.env.FASTMHA_ISA).toBeDefined();
  expect(cpuInfo().isa).toBe(process.env.FASTMHA_ISA);
});
