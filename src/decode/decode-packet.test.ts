import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkType } from '../capture/link-type.js';
import { buildPacket } from './build-packet.js';
import { DecodeIssue } from './decode-issue.js';
import { decodePacket } from './decode-packet.js';
import { DecodedPacket } from './decoded-packet.js';
import { IpProtocol } from './ip-protocol.js';
import { EtherType } from './link-layer.js';

describe('decodePacket', () => {
  it('decodes a packet in the middle of a batch buffer, with ipOffset indexing that buffer', () => {
    const frame = buildPacket({ ipVersion: 4, protocol: IpProtocol.UDP, dstPort: 53 });
    const buffer = new Uint8Array(1000).fill(0xee);
    buffer.set(frame, 300);
    const out = new DecodedPacket();
    assert.equal(decodePacket(buffer, 300, frame.length, frame.length, LinkType.ETHERNET, out), null);
    assert.equal(out.ipOffset, 314);
    assert.equal(out.dstPort, 53);
  });

  it('never reads past caplen even when the buffer goes on', () => {
    const frame = buildPacket({ ipVersion: 4, protocol: IpProtocol.TCP });
    const out = new DecodedPacket();
    assert.equal(decodePacket(frame, 0, 14 + 20 + 13, frame.length, LinkType.ETHERNET, out), DecodeIssue.TRUNCATED_TCP);
  });

  it('reports offsets and lengths outside the buffer instead of reading them', () => {
    const frame = buildPacket({ ipVersion: 4, protocol: IpProtocol.TCP });
    const out = new DecodedPacket();
    for (const [offset, caplen] of [
      [-1, 10],
      [0, -1],
      [1, frame.length],
      [frame.length + 1, 0],
      [Number.NaN, 10],
      [0, Number.NaN],
    ]) {
      assert.equal(decodePacket(frame, offset, caplen, frame.length, LinkType.ETHERNET, out), DecodeIssue.BAD_CAPTURE_BOUNDS);
    }
    assert.equal(decodePacket(frame, frame.length, 0, 0, LinkType.ETHERNET, out), DecodeIssue.TRUNCATED_ETHERNET);
  });

  it('trusts the captured bytes when wirelen is smaller than caplen', () => {
    const frame = buildPacket({ ipVersion: 6, protocol: IpProtocol.TCP, payloadBytes: 10 });
    const out = new DecodedPacket();
    assert.equal(decodePacket(frame, 0, frame.length, 0, LinkType.ETHERNET, out), null);
    assert.equal(out.ipBytes, 70);
  });

  it('leaves nothing of the previous packet in a reused DecodedPacket', () => {
    const out = new DecodedPacket();
    const tagged = buildPacket({
      ipVersion: 4,
      protocol: IpProtocol.TCP,
      tcpFlags: 0x12,
      vlanTags: [{ tpid: EtherType.VLAN, vid: 9 }],
      ipv4Fragment: { offset: 0, more: true, id: 5 },
    });
    assert.equal(decodePacket(tagged, 0, tagged.length, tagged.length, LinkType.ETHERNET, out), null);
    assert.equal(out.vlanId, 9);
    assert.equal(out.isFragment, true);

    const plain = buildPacket({ ipVersion: 6, protocol: IpProtocol.ESP, src: '::1', dst: '::2' });
    assert.equal(decodePacket(plain, 0, plain.length, plain.length, LinkType.ETHERNET, out), null);
    const fresh = new DecodedPacket();
    assert.equal(decodePacket(plain, 0, plain.length, plain.length, LinkType.ETHERNET, fresh), null);
    assert.deepEqual({ ...out, srcAddr: [...out.srcAddr], dstAddr: [...out.dstAddr] }, {
      ...fresh,
      srcAddr: [...fresh.srcAddr],
      dstAddr: [...fresh.dstAddr],
    });

    const v4 = buildPacket({ ipVersion: 4, protocol: IpProtocol.UDP, src: '1.2.3.4' });
    assert.equal(decodePacket(v4, 0, v4.length, v4.length, LinkType.ETHERNET, out), null);
    assert.deepEqual([...out.srcAddr], [0x01020304, 0, 0, 0]);
  });
});
