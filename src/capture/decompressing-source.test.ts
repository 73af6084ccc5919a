import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IssueCounter } from '../common/issue-counter.js';
import { hasNativeZstd, openDecompressingSource, type ZstdDecoder } from './decompressing-source.js';

function zstdCompress(bytes: Uint8Array, args: string[] = []): Uint8Array {
  const result = spawnSync('zstd', ['-q', '-c', ...args], { input: bytes, maxBuffer: 1 << 30 });
  if (result.error || result.status !== 0) {
    assert.fail(`the zstd command is needed for this test (apt-get install zstd): ${result.error?.message ?? result.stderr.toString()}`);
  }
  return new Uint8Array(result.stdout);
}

const decoders: ZstdDecoder[] = hasNativeZstd() ? ['native', 'zstd-command'] : ['zstd-command'];

for (const decoder of decoders) {
  test(`zstd via ${decoder}: multi-frame stream decodes exactly, in small reads`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'endsight-zstd-'));
    try {
      const plain = new Uint8Array(3_000_000);
      for (let i = 0; i < plain.length; i++) plain[i] = (i * 2654435761) >>> 24;
      const half = plain.length / 2;
      const compressed = Buffer.concat([zstdCompress(plain.subarray(0, half)), zstdCompress(plain.subarray(half), ['-19'])]);
      const path = join(dir, 'x.zst');
      await writeFile(path, compressed);
      const handle = await open(path, 'r');
      const issues = new IssueCounter();
      const source = openDecompressingSource(handle, compressed.length, 'zstd', issues, decoder);
      const out = new Uint8Array(plain.length + 10);
      let filled = 0;
      for (;;) {
        const n = await source.read(out, filled, Math.min(99_991, out.length - filled));
        if (n === 0) break;
        filled += n;
      }
      assert.equal(filled, plain.length);
      assert.ok(Buffer.from(out.subarray(0, filled)).equals(Buffer.from(plain)));
      assert.equal(issues.total(), 0);
      assert.equal(source.bytesRead, compressed.length);
      await source.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}
