import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('memory of long sequences', () => {
  // A T x S score matrix per head would be 8 GiB here; keys and values are packed a few heads at a time.
  it('self-attention over 16384 tokens, causal, grows the peak RSS by well under 256 MiB', () => {
    const script = path.join(__dirname, 'fixtures', 'long_memory.js');
    const result = JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8' }));
    expect(result.finite).toBe(true);
    expect(result.growthMiB).toBeLessThan(256);
  });
});
