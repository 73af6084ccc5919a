import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAddress } from '../../decode/index.js';
import { HostAddresses } from '../host-addresses.js';
import { containerName } from './container-name.js';
import { pickCgroupPath, ProcessDirectory, type ProcessInfo } from './process-directory.js';
import { parseSocketEvent, type SocketEvent } from './socket-events.js';
import { SocketOwners, socketKey } from './socket-owners.js';

const S = 1_000_000;

function event(line: string): SocketEvent {
  const e = parseSocketEvent(line);
  assert.ok(e, line);
  return e;
}

function owner(pid: number, process = `p${pid}`): ProcessInfo {
  return { pid, uid: 1000 + pid, process, command: `${process} --run`, username: `u${pid}`, container: null, tunnel: null };
}

function flowKey(src: string, srcPort: number, dst: string, dstPort: number, protocol: number): { key: Uint32Array; v: number } {
  const s = parseAddress(src)!;
  const d = parseAddress(dst)!;
  const key = new Uint32Array(10);
  key.set(s.words, 0);
  key.set(d.words, 4);
  key[8] = ((srcPort << 16) | dstPort) >>> 0;
  key[9] = protocol | (s.ipVersion << 8);
  return { key, v: s.ipVersion };
}

describe('parseSocketEvent', () => {
  it('reads both kinds, unwraps IPv4-mapped addresses, keeps names with spaces', () => {
    assert.deepEqual(event('S 6 10 ::ffff:10.0.0.1 8080 ::ffff:10.0.0.2 5000 42 1000 77 1000 123456789 Web Content'), {
      kind: 'S', protocol: 6, localAddr: '10.0.0.1', localPort: 8080, remoteAddr: '10.0.0.2', remotePort: 5000,
      pid: 42, uid: 1000, cgroupId: 77, netns: 1000, monotonicNs: 123456789n, comm: 'Web Content',
    });
    assert.equal(event('C 6 2 10.0.0.1 40000 10.0.0.2 80 7 0 1 1000 5 curl').kind, 'C');
    for (const bad of ['Attaching 6 probes...', 'S 1 2 a 1 b 2 3 4 5 1000 6 x', 'S 6 2 10.0.0.1 x 10.0.0.2 80 7 0 1 1000 5 curl', '']) {
      assert.equal(parseSocketEvent(bad), null, bad);
    }
  });

  it('never throws on arbitrary lines', () => {
    let seed = 7;
    const next = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const alphabet = 'SC 0123456789.:abcdef\t%-';
    for (let i = 0; i < 100_000; i++) {
      let line = 'SC'[next() % 2] + ' ';
      const length = next() % 60;
      for (let j = 0; j < length; j++) line += alphabet[next() % alphabet.length];
      parseSocketEvent(line);
    }
  });
});

describe('socketKey', () => {
  it('files connected sockets by 4-tuple, unconnected UDP by local address or wildcard', () => {
    assert.equal(socketKey(event('S 6 2 10.0.0.1 40000 10.0.0.2 80 1 0 1 1000 5 a')), '6 10.0.0.1 40000 10.0.0.2 80');
    assert.equal(socketKey(event('S 17 2 10.0.0.1 53 0.0.0.0 0 1 0 1 1000 5 a')), '17 10.0.0.1 53');
    assert.equal(socketKey(event('S 17 2 0.0.0.0 53 0.0.0.0 0 1 0 1 1000 5 a')), '17 *4 53');
    assert.equal(socketKey(event('S 17 10 :: 53 :: 0 1 0 1 1000 5 a')), '17 *6 53');
    assert.equal(socketKey(event('S 6 2 0.0.0.0 0 0.0.0.0 0 1 0 1 1000 5 a')), null, 'no local port yet');
    assert.equal(socketKey(event('S 6 2 10.0.0.1 80 0.0.0.0 0 1 0 1 1000 5 a')), null, 'an unconnected TCP socket carries no flow');
  });
});

describe('SocketOwners', () => {
  const host = new HostAddresses(() => ({
    eth0: [
      { address: '10.0.0.1', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '10.0.0.1/24' },
      { address: '2001:db8::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '', internal: false, cidr: '2001:db8::1/64' },
    ],
  }) as never);
  const make = (): SocketOwners => new SocketOwners(host, { ownNetns: 1000, lookbackUs: 100 * S, retentionUs: 300 * S, maxKeys: 1000 });
  const ownerOf = (owners: SocketOwners, src: string, sp: number, dst: string, dp: number, proto: number, start = 10 * S, end = 11 * S): number | null => {
    const { key, v } = flowKey(src, sp, dst, dp, proto);
    return owners.ownerOf(key, v, start, end)?.pid ?? null;
  };

  it('gives an outgoing flow, and its reply, to the local socket', () => {
    const owners = make();
    owners.record(event('S 6 2 10.0.0.1 40000 192.0.2.9 443 5 0 1 1000 5 curl'), owner(5), 10 * S);
    assert.equal(ownerOf(owners, '10.0.0.1', 40000, '192.0.2.9', 443, 6), 5);
    assert.equal(ownerOf(owners, '192.0.2.9', 443, '10.0.0.1', 40000, 6), 5);
    assert.equal(ownerOf(owners, '192.0.2.9', 443, '10.0.0.1', 40001, 6), null, 'another port');
    assert.equal(ownerOf(owners, '192.0.2.8', 1, '192.0.2.9', 2, 6), null, 'transit');
  });

  it('finds unconnected UDP sockets by address, then by wildcard (IPv4 also on a :: socket), only for local addresses', () => {
    const owners = make();
    owners.record(event('S 17 10 :: 53 :: 0 7 0 1 1000 5 dnsd'), owner(7), 10 * S);
    assert.equal(ownerOf(owners, '192.0.2.9', 5353, '10.0.0.1', 53, 17), 7, 'v4 query to a dual-stack socket');
    assert.equal(ownerOf(owners, '10.0.0.1', 53, '192.0.2.9', 5353, 17), 7, 'its answer');
    assert.equal(ownerOf(owners, '192.0.2.9', 53, '192.0.2.8', 5353, 17), null, 'a remote port 53 is not ours');
    assert.equal(ownerOf(owners, '192.0.2.9', 53, '10.0.0.1', 40000, 17), null, 'a reply from a remote DNS server to a port we have no socket on');
    owners.record(event('S 17 2 10.0.0.1 53 0.0.0.0 0 8 0 1 1000 5 other'), owner(8), 10 * S);
    assert.equal(ownerOf(owners, '192.0.2.9', 5353, '10.0.0.1', 53, 17), 8, 'the more specific socket first');
    assert.equal(ownerOf(owners, '10.0.0.1', 53, '192.0.2.9', 5353, 6), null, 'TCP never matches a UDP socket');
  });

  it('leaves a flow unattributed when two processes used its socket key in its time span', () => {
    const owners = make();
    owners.record(event('S 17 2 0.0.0.0 9000 0.0.0.0 0 1 0 1 1000 5 a'), owner(1), 10 * S);
    owners.record(event('S 17 2 0.0.0.0 9000 0.0.0.0 0 2 0 1 1000 5 b'), owner(2), 12 * S);
    assert.equal(ownerOf(owners, '10.0.0.1', 9000, '192.0.2.1', 1, 17, 10 * S, 13 * S), null);
    assert.equal(owners.statistics().ambiguous, 1);
    // Long after the first process's last sighting, only the second counts.
    assert.equal(ownerOf(owners, '10.0.0.1', 9000, '192.0.2.1', 1, 17, 200 * S, 201 * S), null, 'nothing seen near 200 s');
    owners.record(event('S 17 2 0.0.0.0 9000 0.0.0.0 0 2 0 1 1000 5 b'), owner(2), 200 * S);
    assert.equal(ownerOf(owners, '10.0.0.1', 9000, '192.0.2.1', 1, 17, 200 * S, 201 * S), 2);
  });

  it("uses other namespaces' sockets (containers) only for flows through the host, by exact tuple, never over loopback", () => {
    const owners = make();
    owners.record(event('S 6 2 172.17.0.2 40000 192.0.2.9 443 9 0 1 2000 5 curl'), owner(9), 10 * S);
    owners.record(event('S 17 2 0.0.0.0 53 0.0.0.0 0 8 0 1 2000 5 dnsd'), owner(8), 10 * S);
    owners.record(event('S 6 2 127.0.0.1 40000 127.0.0.1 80 7 0 1 2000 5 other'), owner(7), 10 * S);
    assert.equal(ownerOf(owners, '172.17.0.2', 40000, '192.0.2.9', 443, 6), 9, 'a container connection through the host');
    assert.equal(ownerOf(owners, '192.0.2.9', 443, '172.17.0.2', 40000, 6), 9, 'its reply');
    assert.equal(ownerOf(owners, '192.0.2.9', 5353, '172.17.0.3', 53, 17), null, "another namespace's wildcard socket is never used");
    assert.equal(ownerOf(owners, '127.0.0.1', 40000, '127.0.0.1', 80, 6), null, "another namespace's loopback is not ours");
    owners.record(event('S 6 2 10.0.0.1 40001 172.17.0.2 443 9 0 1 2000 5 curl'), owner(9), 10 * S);
    assert.equal(ownerOf(owners, '10.0.0.1', 40001, '172.17.0.2', 443, 6), null, 'a flow from a host address belongs to a host socket');
    assert.equal(owners.statistics().otherNamespace, 2);
  });

  it('follows a connection the host translated (NAT) back to the socket that made it', () => {
    const owners = make();
    owners.record(event('S 6 2 172.17.0.2 40000 192.0.2.9 443 9 0 1 2000 5 curl'), owner(9), 10 * S);
    owners.recordNat(
      {
        original: { protocol: 6, src: '172.17.0.2', srcPort: 40000, dst: '192.0.2.9', dstPort: 443 },
        translated: { protocol: 6, src: '10.0.0.1', srcPort: 61000, dst: '192.0.2.9', dstPort: 443 },
      },
      10 * S,
    );
    assert.equal(ownerOf(owners, '10.0.0.1', 61000, '192.0.2.9', 443, 6), 9, 'the masqueraded connection on the uplink');
    assert.equal(ownerOf(owners, '192.0.2.9', 443, '10.0.0.1', 61000, 6), 9, 'its reply, to the host address');
    assert.equal(ownerOf(owners, '10.0.0.1', 61001, '192.0.2.9', 443, 6), null, 'another port was not translated');
  });

  it('does not use a sighting from after the flow ended', () => {
    const owners = make();
    owners.record(event('S 6 2 10.0.0.1 40000 192.0.2.9 443 5 0 1 1000 5 curl'), owner(5), 100 * S);
    assert.equal(ownerOf(owners, '10.0.0.1', 40000, '192.0.2.9', 443, 6, 10 * S, 11 * S), null);
  });

  it('forgets sightings after the retention and bounds the number of keys', () => {
    const owners = new SocketOwners(host, { ownNetns: 1000, lookbackUs: 100 * S, retentionUs: 300 * S, maxKeys: 10 });
    for (let i = 0; i < 20; i++) owners.record(event(`S 6 2 10.0.0.1 ${40000 + i} 192.0.2.9 443 5 0 1 1000 5 curl`), owner(5), 10 * S);
    assert.equal(owners.size, 10);
    owners.expire(400 * S);
    assert.equal(owners.size, 0);
  });
});

describe('parseNatEvent', () => {
  it('reads translated connections from conntrack -E, and only those', async () => {
    const { parseNatEvent } = await import('./nat-events.js');
    assert.deepEqual(
      parseNatEvent('    [NEW] tcp      6 120 SYN_SENT src=10.91.0.2 dst=10.82.0.2 sport=36070 dport=8080 [UNREPLIED] src=10.82.0.2 dst=10.82.0.1 sport=8080 dport=36070'),
      {
        original: { protocol: 6, src: '10.91.0.2', srcPort: 36070, dst: '10.82.0.2', dstPort: 8080 },
        translated: { protocol: 6, src: '10.82.0.1', srcPort: 36070, dst: '10.82.0.2', dstPort: 8080 },
      },
    );
    assert.equal(parseNatEvent('    [NEW] udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=5000 dport=53 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5000'), null, 'not translated');
    assert.equal(parseNatEvent('    [NEW] icmp     1 30 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=1 [UNREPLIED] src=10.0.0.2 dst=10.0.0.9 type=0 code=0 id=1'), null);
    assert.equal(parseNatEvent('conntrack v1.4.7 (conntrack-tools): 0 flow events have been shown.'), null);
  });
});

describe('containerName', () => {
  const id = 'a'.repeat(64);
  it('names Docker, containerd, CRI-O, Kubernetes and systemd units, else the path', () => {
    assert.equal(containerName(`/system.slice/docker-${id}.scope`), `docker/${id}`);
    assert.equal(containerName(`/docker/${id}`), `docker/${id}`);
    assert.equal(containerName(`/system.slice/cri-containerd-${id}.scope`), `containerd/${id}`);
    assert.equal(containerName(`/crio-${id}.scope`), `crio/${id}`);
    assert.equal(
      containerName(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0123abcd_4567_89ab_cdef_0123456789ab.slice/cri-containerd-${id}.scope`),
      `kubernetes/0123abcd-4567-89ab-cdef-0123456789ab/${id}`,
    );
    assert.equal(containerName(`/kubepods/besteffort/pod0123abcd-4567-89ab-cdef-0123456789ab/${id}`), `kubernetes/0123abcd-4567-89ab-cdef-0123456789ab/${id}`);
    assert.equal(containerName('/system.slice/nginx.service'), 'nginx.service');
    assert.equal(containerName('/user.slice/user-1000.slice/session-3.scope'), 'session-3.scope');
    assert.equal(containerName('/lab/web'), '/lab/web');
    assert.equal(containerName('/'), null);
  });
});

describe('ProcessDirectory', () => {
  it('reads command line, cgroup and user; keeps them for events after the process exited; refuses a reused pid', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'endsight-proc-'));
    try {
      const proc = path.join(root, 'proc');
      const dir = path.join(proc, '42');
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'comm'), 'curl\n');
      writeFileSync(path.join(dir, 'cmdline'), 'curl\0-s\0http://x/\0');
      writeFileSync(path.join(dir, 'cgroup'), '0::/system.slice/backup.service\n');
      const stat = (start: number): string => `42 (curl) S 1 42 42 0 -1 4194560 100 0 0 0 1 1 0 0 20 0 1 0 ${start} 1000 100 18446744073709551615\n`;
      writeFileSync(path.join(dir, 'stat'), stat(5000));
      const passwd = path.join(root, 'passwd');
      writeFileSync(passwd, 'root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n');
      const directory = new ProcessDirectory(proc, passwd);
      const e = event('S 6 2 10.0.0.1 40000 192.0.2.9 443 42 1000 9 1000 5 curl');
      const info = { pid: 42, uid: 1000, process: 'curl', command: 'curl -s http://x/', username: 'alice', container: 'backup.service', tunnel: null };
      assert.deepEqual(directory.describe(e), info);
      rmSync(dir, { recursive: true });
      assert.deepEqual(directory.describe(e), info, 'from the cache once the process is gone');
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'comm'), 'curl\n');
      writeFileSync(path.join(dir, 'cmdline'), 'curl\0-I\0http://y/\0');
      writeFileSync(path.join(dir, 'cgroup'), '0::/system.slice/backup.service\n');
      writeFileSync(path.join(dir, 'stat'), stat(9000));
      assert.equal(directory.describe(e).command, 'curl -I http://y/', 'the pid was reused by another curl: read afresh');
      writeFileSync(path.join(dir, 'comm'), 'python3\n');
      writeFileSync(path.join(dir, 'stat'), stat(9900));
      const reused = directory.describe(e);
      assert.equal(reused.command, null, 'the pid now runs another program: the command line is unknown, not a guess');
      assert.equal(reused.container, null);
      assert.equal(reused.process, 'curl');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("finds the container of a process that has already exited from the event's cgroup id", () => {
    const root = mkdtempSync(path.join(tmpdir(), 'endsight-proc-'));
    try {
      const cgroups = path.join(root, 'cgroup2');
      const scope = path.join(cgroups, 'system.slice', `docker-${'b'.repeat(64)}.scope`);
      mkdirSync(scope, { recursive: true });
      const proc = path.join(root, 'proc');
      mkdirSync(path.join(proc, 'self'), { recursive: true });
      writeFileSync(path.join(proc, 'self', 'mountinfo'), `41 31 0:38 / ${cgroups} rw,relatime - cgroup2 cgroup2 rw\n`);
      const directory = new ProcessDirectory(proc, path.join(root, 'no-passwd'));
      const cgroupId = statSync(scope).ino;
      const gone = directory.describe(event(`S 6 2 10.0.0.1 40000 192.0.2.9 443 77 1000 ${cgroupId} 1000 5 curl`));
      assert.deepEqual([gone.pid, gone.process, gone.command, gone.container], [77, 'curl', null, `docker/${'b'.repeat(64)}`]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('prefers the unified hierarchy, then the systemd one', () => {
    assert.equal(pickCgroupPath('0::/a/b\n'), '/a/b');
    assert.equal(pickCgroupPath('9:name=systemd:/system.slice/x.service\n0::/\n'), '/system.slice/x.service');
    assert.equal(pickCgroupPath('0::/\n'), '/');
    assert.equal(pickCgroupPath(null), null);
  });
});
