import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile, mkdir, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { IssueCounter } from '../common/issue-counter.js';
import { buildPcap, PcapngBuilder, type PcapRecordSpec } from './capture-builder.js';
import { collectPackets } from './collect-packets.js';
import { CaptureError, openCapture, openCaptureBytes } from './index.js';
import type { CaptureOptions } from './capture-options.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'endsight-capture-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const EXPECTED = 'expected a pcap or pcapng file (magic a1b2c3d4, d4c3b2a1, a1b23c4d, 4d3cb2a1 or 0a0d0d0a)';

function payload(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed * 13 + i * 7) & 0xff;
  return out;
}

/** A pcap with enough varied packets to span many compressed blocks and reads. */
function samplePcap(count = 3000): Uint8Array {
  const recs: PcapRecordSpec[] = [];
  for (let i = 0; i < count; i++) recs.push({ seconds: 1_700_000_000 + i, fraction: i, data: payload(40 + (i % 200), i) });
  return buildPcap({ littleEndian: false }, recs);
}

function samplePcapng(): Uint8Array {
  const b = new PcapngBuilder().section().interface({ linkType: 1, name: 'eth0', tsresol: 9 });
  for (let i = 0; i < 500; i++) b.enhanced({ interfaceId: 0, timestamp: 1_700_000_000_000_000_000n + BigInt(i) * 1000n, data: payload(60 + (i % 50), i) });
  return b.bytes();
}

/** Compresses with the Debian zstd tool (node:zlib has no zstd compressor before Node 22.15). */
function zstdCompress(bytes: Uint8Array): Uint8Array {
  const result = spawnSync('zstd', ['-q', '-c'], { input: bytes, maxBuffer: 1 << 30 });
  if (result.error || result.status !== 0) {
    assert.fail(`the zstd command is needed for this test (apt-get install zstd): ${result.error?.message ?? result.stderr.toString()}`);
  }
  return new Uint8Array(result.stdout);
}

async function writeTemp(name: string, bytes: Uint8Array | string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

async function readFile(path: string, options?: CaptureOptions) {
  const issues = new IssueCounter();
  const source = await openCapture(path, issues, options);
  const packets = await collectPackets(source);
  return { source, packets, issues };
}

async function expectCaptureError(path: string, message: string | RegExp): Promise<void> {
  await assert.rejects(openCapture(path, new IssueCounter()), (err: unknown) => {
    assert.ok(err instanceof CaptureError, `expected a CaptureError, got ${String(err)}`);
    assert.equal(err.name, 'CaptureError');
    assert.ok(!err.message.includes('\n'), 'one line');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

test('openCapture: plain pcap and pcapng files', async () => {
  const pcap = samplePcap();
  const a = await readFile(await writeTemp('a.pcap', pcap));
  assert.equal(a.source.format, 'pcap');
  assert.equal(a.source.compression, null);
  assert.equal(a.packets.length, 3000);
  assert.equal(a.source.bytesRead, pcap.length);
  assert.equal(a.source.totalBytes, pcap.length);
  const ng = samplePcapng();
  const b = await readFile(await writeTemp('b.pcapng', ng));
  assert.equal(b.source.format, 'pcapng');
  assert.equal(b.packets.length, 500);
  assert.equal(b.packets[1].timestampUs, 1_700_000_000_000_001);
  assert.equal(b.issues.total(), 0);
});

test('openCapture: gzip-compressed pcap and pcapng give the same packets as the plain files', async () => {
  for (const [name, plain] of [['c.pcap', samplePcap()], ['c.pcapng', samplePcapng()]] as const) {
    const reference = (await readFile(await writeTemp(name, plain))).packets;
    const gz = gzipSync(plain);
    for (const chunkSize of [7, 1 << 20]) {
      const { source, packets, issues } = await readFile(await writeTemp(`${name}.gz`, gz), { chunkSize });
      assert.equal(source.compression, 'gzip');
      assert.deepEqual(packets, reference);
      assert.equal(issues.total(), 0);
      assert.equal(source.bytesRead, gz.length);
      assert.equal(source.totalBytes, gz.length);
    }
  }
});

test('openCapture: zstd-compressed pcap and pcapng give the same packets as the plain files', async () => {
  for (const [name, plain] of [['d.pcap', samplePcap()], ['d.pcapng', samplePcapng()]] as const) {
    const reference = (await readFile(await writeTemp(name, plain))).packets;
    const zst = zstdCompress(plain);
    for (const chunkSize of [7, 1 << 20]) {
      const { source, packets, issues } = await readFile(await writeTemp(`${name}.zst`, zst), { chunkSize });
      assert.equal(source.compression, 'zstd');
      assert.deepEqual(packets, reference);
      assert.equal(issues.total(), 0);
      assert.equal(source.bytesRead, zst.length);
    }
  }
});

test('openCapture: a cut compressed file delivers what decompressed and counts the damage', async () => {
  const plain = samplePcap();
  for (const [name, compressed] of [['e.pcap.gz', gzipSync(plain)], ['e.pcap.zst', zstdCompress(plain)]] as const) {
    const cut = compressed.subarray(0, Math.floor(compressed.length * 0.6));
    const { packets, issues } = await readFile(await writeTemp(name, cut));
    assert.ok(packets.length > 0 && packets.length < 3000, `${name}: ${packets.length} packets`);
    assert.equal(issues.get('decompression_error'), 1, name);
  }
});

test('openCapture: gzip of something that is not a capture names the decompression', async () => {
  const path = await writeTemp('notes.txt.gz', gzipSync(Buffer.from('Hello, world\n')));
  await expectCaptureError(path, `Cannot read capture ${JSON.stringify(path)}: ${EXPECTED}, found 48656c6c after gzip decompression`);
});

test('openCapture: a corrupt gzip header is a CaptureError', async () => {
  const path = await writeTemp('bad.gz', Uint8Array.of(0x1f, 0x8b, 0x99, 0x99, 0x99, 0x99, 0x99));
  await expectCaptureError(path, /^Cannot read capture ".*bad\.gz": gzip decompression failed \(.+\), expected a pcap/);
});

test('openCapture: a text file is not a capture', async () => {
  const path = await writeTemp('x.txt', 'Hello, world\n');
  await expectCaptureError(path, `Cannot read capture ${JSON.stringify(path)}: ${EXPECTED}, found 48656c6c`);
});

test('openCapture: an empty file is not a capture', async () => {
  const path = await writeTemp('empty.pcap', new Uint8Array(0));
  await expectCaptureError(path, `Cannot read capture ${JSON.stringify(path)}: the file is empty, ${EXPECTED}`);
});

test('openCapture: a file shorter than a magic number is not a capture', async () => {
  const path = await writeTemp('short.pcap', Uint8Array.of(0xd4, 0xc3));
  await expectCaptureError(path, `Cannot read capture ${JSON.stringify(path)}: ${EXPECTED}, found only 2 bytes (d4c3)`);
});

test('openCapture: a missing file names the OS reason', async () => {
  const path = join(dir, 'missing.pcap');
  await expectCaptureError(path, `Cannot read capture ${JSON.stringify(path)}: cannot open the file: ENOENT: no such file or directory`);
});

test('openCapture: a directory names the OS reason', async () => {
  const path = join(dir, 'a-directory');
  await mkdir(path);
  await expectCaptureError(path, /^Cannot read capture ".*a-directory": .*EISDIR/);
});

test('openCapture: an unreadable file names the OS reason', async () => {
  const path = await writeTemp('secret.pcap', samplePcap(1));
  await chmod(path, 0o000);
  if (process.getuid?.() !== 0) {
    await expectCaptureError(path, /: cannot open the file: EACCES: permission denied$/);
    return;
  }
  // Root reads anything: try as an unprivileged user (nobody) in a child process instead.
  await chmod(dir, 0o755);
  const moduleUrl = new URL('./open-capture.js', import.meta.url).href;
  const script =
    `import { openCapture } from ${JSON.stringify(moduleUrl)};` +
    `openCapture(${JSON.stringify(path)}, { add() {} }).then(() => console.log('opened'), (e) => console.log(e.name + ': ' + e.message));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8' });
  assert.match(child.stdout.trim(), /^CaptureError: Cannot read capture ".*secret\.pcap": cannot open the file: EACCES: permission denied$/, child.stderr);
});

test('openCaptureBytes: reads a capture held in memory, refuses compressed bytes', async () => {
  const source = await openCaptureBytes(samplePcap(10), new IssueCounter());
  assert.equal((await collectPackets(source)).length, 10);
  await assert.rejects(openCaptureBytes(gzipSync(samplePcap(1)), new IssueCounter()), CaptureError);
  await assert.rejects(openCaptureBytes(new Uint8Array(0), new IssueCounter()), /the file is empty/);
});

test('openCapture: stopping early and close() release the file', async () => {
  const path = await writeTemp('f.pcap.gz', gzipSync(samplePcap()));
  const source = await openCapture(path, new IssueCounter(), { batchCapacity: 10 });
  for await (const batch of source.batches()) {
    assert.equal(batch.count, 10);
    break;
  }
  await source.close();
  const unused = await openCapture(path, new IssueCounter());
  await unused.close();
  await unused.close();
});

test('openCapture: close() between batches ends the iteration without counting damage', async () => {
  const path = await writeTemp('g.pcap', samplePcap());
  const issues = new IssueCounter();
  const source = await openCapture(path, issues, { batchCapacity: 10, chunkSize: 500 });
  let batches = 0;
  for await (const batch of source.batches()) {
    assert.ok(batch.count > 0);
    batches++;
    await source.close();
  }
  assert.equal(batches, 1);
  assert.equal(issues.total(), 0);
});
