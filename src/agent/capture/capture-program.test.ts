/**
 * The capture program (native/endsight-capture.c) against the flow meter it feeds: the same capture
 * file read by the program (-r) and metered from its batches must give exactly the records the meter
 * gives packet by packet. Also its damage handling (100,000 damaged packets), sampling, and its
 * failures as the operator sees them.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buildPcap, LinkType, openCapture, type PcapRecordSpec } from '../../capture/index.js';
import { IssueCounter } from '../../common/issue-counter.js';
import { buildPacket, createRandom, type PacketSpec } from '../../decode/build-packet.js';
import { FlowMeter, type FlowRecord } from '../../flow/index.js';
import { readCaptureBatches, CaptureProtocolError, BATCH_MAGIC, type CaptureBatch } from './capture-batch.js';
import { captureProgramPath, CaptureProgram, CaptureStartError } from './capture-program.js';

const S = 1_000_000;
const TCP = 6;
const UDP = 17;
/** As the agent meters: flows keyed by interface index, one interface (4) not monitored. */
const meterOptions = {
  idleTimeoutUs: 90 * S, activeTimeoutUs: 1800 * S, finTimeoutUs: 5 * S, maxFlows: 100_000, host: 'h', source: 'live',
  linkInterfaces: { version: 1, name: (i: number) => `if${i}`, monitored: (i: number) => i !== 4 },
};

/** Runs the program on a capture file; its batches and exit code. */
async function runProgram(file: string, extra: string[] = []): Promise<{ batches: CaptureBatch[]; code: number | null; stderr: string }> {
  const child = spawn(captureProgramPath(), [...extra, '-r', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const batches: CaptureBatch[] = [];
  for await (const batch of readCaptureBatches(child.stdout)) batches.push(batch);
  const code = await new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve)));
  return { batches, code, stderr };
}

function sortRecords(records: FlowRecord[]): FlowRecord[] {
  const key = (r: FlowRecord): string => `${r.srcAddr} ${r.dstAddr} ${r.srcPort} ${r.dstPort} ${r.protocol} ${r.interfaceName} ${r.startUs}`;
  return records.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** The records and issues of the meter fed packet by packet, and fed the program's batches. */
async function bothWays(file: string): Promise<{ direct: FlowRecord[]; viaProgram: FlowRecord[]; directIssues: object; programIssues: object; batches: CaptureBatch[] }> {
  const directIssues = new IssueCounter();
  const direct = new FlowMeter(meterOptions, directIssues);
  const source = await openCapture(file, directIssues);
  for await (const batch of source.batches()) direct.processBatch(batch, source.interfaces);
  // The table sweeps for idle flows every so many packets, and the program's entries are fewer than
  // packets: a last sweep at the last packet's time makes both end the same flows as idle.
  direct.advance(direct.stats().nowUs);
  direct.finish();
  const programIssues = new IssueCounter();
  const viaProgram = new FlowMeter(meterOptions, programIssues);
  const { batches, code, stderr } = await runProgram(file);
  assert.equal(code, 0, stderr);
  for (const b of batches) viaProgram.processCaptureBatch(b.body, b.sampling, b.packetsSeen, b.packetsSampledOut);
  viaProgram.advance(viaProgram.stats().nowUs);
  viaProgram.finish();
  return {
    direct: sortRecords(direct.drain().toRecords()),
    viaProgram: sortRecords(viaProgram.drain().toRecords()),
    directIssues: directIssues.toJSON(),
    programIssues: programIssues.toJSON(),
    batches,
  };
}

function sll2(spec: Omit<PacketSpec, 'linkType'>, ifindex = 2): Uint8Array {
  return buildPacket({ ...spec, linkType: LinkType.LINUX_SLL2, sll2InterfaceIndex: ifindex });
}

function writeCapture(dir: string, name: string, records: PcapRecordSpec[]): string {
  const file = path.join(dir, name);
  writeFileSync(file, buildPcap({ linkTypeField: LinkType.LINUX_SLL2, snaplen: 262144 }, records));
  return file;
}

describe('the capture program', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-capture-program-'));
    const built = spawnSync('bash', ['scripts/build-native.sh'], { encoding: 'utf8' });
    assert.equal(built.status, 0, `native/build/endsight-capture could not be built: ${built.stderr}`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('meters a mixed capture exactly as the flow meter does packet by packet', async () => {
    const random = createRandom(7);
    const records: PcapRecordSpec[] = [];
    let t = 1_700_000_000 * S;
    const push = (frame: Uint8Array, wirelen?: number): void => {
      t += Math.floor(random() * 40_000); // up to 40 ms apart: entries span several packets, and batches of 1 s
      records.push({ seconds: Math.floor(t / S), fraction: t % S, data: frame, wirelen });
    };
    for (let i = 0; i < 3000; i++) {
      const r = random();
      const port = 40000 + Math.floor(random() * 20);
      if (r < 0.3) {
        // TCP connections: SYN, data, FIN, RST, with the 5-tuple reused after the close
        const flags = [0x02, 0x12, 0x10, 0x18, 0x10, 0x11, 0x04][Math.floor(random() * 7)];
        push(sll2({ ipVersion: 4, protocol: TCP, src: '10.0.0.1', dst: '10.0.0.2', srcPort: port, dstPort: 443, tcpFlags: flags, payloadBytes: Math.floor(random() * 1400) }));
      } else if (r < 0.5) {
        push(sll2({ ipVersion: 6, protocol: UDP, src: '2001:db8::1', dst: '2001:db8::2', srcPort: port, dstPort: 53, payloadBytes: 40 }, 3));
      } else if (r < 0.6) {
        push(sll2({ ipVersion: 6, protocol: TCP, src: '2001:db8::2', dst: '2001:db8::1', srcPort: 443, dstPort: port, tcpFlags: 0x10, ipv6Extensions: [{ type: 60 }] }));
      } else if (r < 0.67) {
        const id = Math.floor(random() * 65536);
        push(sll2({ ipVersion: 4, protocol: UDP, src: '10.0.0.3', dst: '10.0.0.2', srcPort: port, dstPort: 5000, ipv4Fragment: { offset: 0, more: true, id }, payloadBytes: 1472 }));
        push(sll2({ ipVersion: 4, protocol: UDP, src: '10.0.0.3', dst: '10.0.0.2', ipv4Fragment: { offset: 1480, more: false, id }, omitTransportHeader: true, payloadBytes: 100 }));
      } else if (r < 0.72) {
        push(sll2({ ipVersion: 4, protocol: 1, src: '10.0.0.2', dst: '10.0.0.1', icmpType: 8, icmpCode: 0, payloadBytes: 56 }));
      } else if (r < 0.75) {
        push(sll2({ ipVersion: 4, protocol: 50, src: '10.0.0.4', dst: '10.0.0.5', payloadBytes: 100 }));
      } else if (r < 0.78) {
        // cut short, or longer on the wire (a snaplen), or a total length that lies
        const frame = sll2({ ipVersion: 4, protocol: TCP, src: '10.0.0.1', dst: '10.0.0.9', srcPort: port, dstPort: 80, tcpFlags: 0x10, payloadBytes: 200 });
        const cut = 20 + Math.floor(random() * 60);
        push(frame.subarray(0, cut), random() < 0.5 ? frame.length : cut);
      } else if (r < 0.8) {
        const frame = sll2({ ipVersion: 4, protocol: UDP, src: '10.0.0.1', dst: '10.0.0.9', srcPort: port, dstPort: 9, payloadBytes: 30 });
        frame[22] = 0; // total length 0, as TCP segmentation offload writes it
        frame[23] = random() < 0.5 ? 0 : 255; // or longer than the packet
        push(frame);
      } else if (r < 0.82) {
        push(sll2({ ipVersion: 4, protocol: UDP, src: '10.0.0.1', dst: '10.0.0.8', srcPort: port, dstPort: 9, trailerBytes: 6 }));
      } else if (r < 0.84) {
        const frame = sll2({ ipVersion: 4, protocol: UDP, src: '10.0.0.1', dst: '10.0.0.8', srcPort: port, dstPort: 9 });
        frame[0] = 0x08; frame[1] = 0x06; // ARP
        push(frame);
      } else {
        push(sll2({ ipVersion: 4, protocol: UDP, src: '10.0.0.1', dst: '10.0.0.2', srcPort: port, dstPort: 53, payloadBytes: 60 }, 2 + (i % 3)));
      }
    }
    // A pause over the idle timeout, then the same flows again.
    t += 100 * S;
    for (let i = 0; i < 50; i++) push(sll2({ ipVersion: 4, protocol: UDP, src: '10.0.0.1', dst: '10.0.0.2', srcPort: 40000, dstPort: 53, payloadBytes: 60 }));
    const file = writeCapture(dir, 'mixed.pcap', records);
    const { direct, viaProgram, directIssues, programIssues, batches } = await bothWays(file);
    assert.ok(direct.length > 100, `${direct.length} records`);
    assert.deepEqual(viaProgram, direct);
    assert.deepEqual(programIssues, directIssues);
    const flowEntries = batches.reduce((n, b) => n + countRecords(b.body).flows, 0);
    assert.ok(flowEntries < records.length * 0.75, `the program added packets up: ${flowEntries} entries for ${records.length} packets`);
    assert.equal(batches.reduce((n, b) => n + b.packetsSeen, 0), records.length);
  });

  it('samples 1 in N when told and the meter scales packets and bytes by N', async () => {
    const records: PcapRecordSpec[] = [];
    for (let i = 0; i < 400; i++) {
      const frame = sll2({ ipVersion: 4, protocol: UDP, src: '10.0.0.1', dst: '10.0.0.2', srcPort: i % 2 === 0 ? 1000 : 2001, dstPort: 53, payloadBytes: 72 });
      records.push({ seconds: 1_700_000_000, fraction: i * 1000, data: frame });
    }
    const file = writeCapture(dir, 'sampled.pcap', records);
    const { batches, code } = await runProgram(file, ['-n', '4']);
    assert.equal(code, 0);
    const meter = new FlowMeter(meterOptions, new IssueCounter());
    for (const b of batches) {
      assert.equal(b.sampling, 4);
      meter.processCaptureBatch(b.body, b.sampling, b.packetsSeen, b.packetsSampledOut);
    }
    meter.finish();
    const stats = meter.stats();
    assert.deepEqual([stats.packetsSeen, stats.packetsMetered, stats.packetsSampledOut, stats.packetsSkipped], [400, 100, 300, 0]);
    // Every 4th of the alternating packets falls on the same port (4 is even): one flow gets all 100.
    const got = meter.drain().toRecords().map((r) => [r.srcPort, r.packets, r.bytes, r.sampling]);
    assert.deepEqual(got, [[2001, 400, 400 * 100, 4]]);
  });

  it('survives 100,000 damaged packets: no crash, every packet counted, the same totals per 5-tuple', async () => {
    const random = createRandom(11);
    const templates = [
      sll2({ ipVersion: 4, protocol: TCP, srcPort: 1, dstPort: 2, tcpFlags: 0x10, ipv4OptionBytes: 8, payloadBytes: 20 }),
      sll2({ ipVersion: 6, protocol: UDP, srcPort: 3, dstPort: 4, payloadBytes: 20 }),
      sll2({ ipVersion: 6, protocol: TCP, srcPort: 5, dstPort: 6, ipv6Extensions: [{ type: 0 }, { type: 44, offset: 0, more: true, id: 9 }] }),
      sll2({ ipVersion: 4, protocol: UDP, srcPort: 7, dstPort: 8, ipv4Fragment: { offset: 8, more: false, id: 3 }, omitTransportHeader: true }),
    ];
    const records: PcapRecordSpec[] = [];
    for (let i = 0; i < 100_000; i++) {
      let data: Uint8Array;
      if (random() < 0.2) {
        data = new Uint8Array(Math.floor(random() * 120));
        for (let j = 0; j < data.length; j++) data[j] = Math.floor(random() * 256);
      } else {
        data = templates[Math.floor(random() * templates.length)].slice();
        for (let k = Math.floor(random() * 4); k >= 0; k--) data[Math.floor(random() * data.length)] = Math.floor(random() * 256);
        if (random() < 0.2) data = data.subarray(0, Math.floor(random() * data.length));
      }
      // Longer on the wire than captured at times (a snaplen). Never shorter: libpcap's ring cannot say so,
      // and the file reader's handling of that lie is the capture tests' business.
      const wirelen = random() < 0.2 ? data.length + Math.floor(random() * 200) : data.length;
      records.push({ seconds: 1_700_000_000 + Math.floor(i / 1000), fraction: (i % 1000) * 1000, data, wirelen });
    }
    const file = writeCapture(dir, 'damaged.pcap', records);
    const { direct, viaProgram, directIssues, programIssues, batches } = await bothWays(file);
    assert.equal(batches.reduce((n, b) => n + b.packetsSeen, 0), 100_000);
    assert.deepEqual(programIssues, directIssues);
    // Per 5-tuple, not per record: where damage makes orphan fragments and packets share a port-0 flow,
    // which record an orphan joins depends on when its datagram times out relative to an entry of the
    // program (entries are metered in the order of their first packet).
    assert.deepEqual(totalsByTuple(viaProgram), totalsByTuple(direct));
  });

  it('reads a batch stream in any chunking and refuses bytes that are not one, without a large allocation', async () => {
    const records: PcapRecordSpec[] = [];
    for (let i = 0; i < 50; i++) records.push({ seconds: 1, fraction: i, data: sll2({ ipVersion: 4, protocol: UDP, srcPort: i, dstPort: 9 }) });
    const { batches } = await runProgram(writeCapture(dir, 'small.pcap', records));
    const stream = spawnSync(captureProgramPath(), ['-r', path.join(dir, 'small.pcap')]).stdout;
    const random = createRandom(5);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < stream.length; ) {
      const n = 1 + Math.floor(random() * 100);
      chunks.push(stream.subarray(at, at + n));
      at += n;
    }
    const rechunked: CaptureBatch[] = [];
    for await (const b of readCaptureBatches(Readable.from(chunks))) rechunked.push(b);
    const withoutCpu = (list: CaptureBatch[]): object[] => list.map(({ cpuUs: _, ...rest }) => rest);
    assert.deepEqual(withoutCpu(rechunked), withoutCpu(batches));

    for (let i = 0; i < 2000; i++) {
      const bytes = stream.slice(0, Math.floor(random() * stream.length));
      bytes[Math.floor(random() * bytes.length)] ^= 1 << Math.floor(random() * 8);
      try {
        for await (const b of readCaptureBatches(Readable.from([bytes]))) assert.ok(b.body.length <= 64 << 20);
      } catch (error) {
        assert.ok(error instanceof CaptureProtocolError, String(error));
      }
    }
    const huge = new Uint8Array(56);
    new DataView(huge.buffer).setUint32(0, BATCH_MAGIC, true);
    new DataView(huge.buffer).setUint32(4, 0xfffffff8, true);
    await assert.rejects(async () => {
      for await (const _ of readCaptureBatches(Readable.from([huge]))) void _;
    }, /not possible/);
  });

  it('the meter counts records that do not fit their batch instead of reading past it', () => {
    const issues = new IssueCounter();
    const meter = new FlowMeter(meterOptions, issues);
    const body = new Uint8Array(88);
    new DataView(body.buffer).setUint32(0, 1, true); // a flow record needs 80 bytes: fits
    new DataView(body.buffer).setUint32(80, 2, true); // a packet record needs 24: does not
    meter.processCaptureBatch(body, 1, 2, 0);
    meter.processCaptureBatch(new Uint8Array(8).fill(9), 1, 1, 0);
    assert.equal(issues.toJSON().capture_record_malformed, 2);
  });

  it('explains what stops a capture: a filter that is not BPF, no privileges', async (t) => {
    if (process.getuid?.() !== 0) {
      assert.fail('this test needs root (it opens the capture device, then drops to nobody)');
    }
    await assert.rejects(CaptureProgram.start({ snaplen: 128, filter: 'port of call', bufferKiB: 1024 }, 'nobody'), (e: Error) => {
      assert.ok(e instanceof CaptureStartError);
      assert.match(e.message, /^the capture filter is not valid BPF \(pcap-filter\(7\)\): /);
      return true;
    });
    const unprivileged = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all', captureProgramPath()], { encoding: 'utf8' });
    assert.equal(unprivileged.status, 3, unprivileged.stderr);
    const program = await CaptureProgram.start({ snaplen: 128, filter: null, bufferKiB: 1024 }, 'nobody');
    t.after(() => program.kill());
    const pid = (program as unknown as { child: { pid: number } }).child.pid;
    const status = spawnSync('grep', ['-E', '^(Uid|CapEff|CapPrm):', `/proc/${pid}/status`], { encoding: 'utf8' }).stdout;
    assert.match(status, /CapPrm:\s+0+\n/, 'no capability left after opening the device');
    assert.match(status, /Uid:\s+65534\s/, 'runs as nobody');
    await program.stop();
  });
});

function totalsByTuple(records: FlowRecord[]): Map<string, [number, number]> {
  const totals = new Map<string, [number, number]>();
  for (const r of records) {
    const key = `${r.srcAddr} ${r.dstAddr} ${r.srcPort} ${r.dstPort} ${r.protocol} ${r.interfaceName}`;
    const t = totals.get(key) ?? [0, 0];
    totals.set(key, [t[0] + r.packets, t[1] + r.bytes]);
  }
  return new Map([...totals].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function countRecords(body: Uint8Array): { flows: number; packets: number } {
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  let flows = 0;
  let packets = 0;
  for (let at = 0; at < body.length; ) {
    if (view.getUint32(at, true) === 1) {
      flows++;
      at += 80;
    } else {
      packets++;
      at += 24 + ((view.getUint32(at + 4, true) + 7) & ~7);
    }
  }
  return { flows, packets };
}
