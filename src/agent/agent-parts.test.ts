import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAddress } from '../decode/index.js';
import { ConfigError, loadAgentConfig } from './agent-config.js';
import { formatMetrics } from './health-server.js';
import { HostAddresses } from './host-addresses.js';
import { HostInterfaces } from './link-interfaces.js';
import type { AgentStatus } from './agent.js';

function key(src: string, dst: string): { words: Uint32Array; ipVersion: number } {
  const s = parseAddress(src)!;
  const d = parseAddress(dst)!;
  const words = new Uint32Array(10);
  words.set(s.words, 0);
  words.set(d.words, 4);
  return { words, ipVersion: s.ipVersion };
}

describe('HostAddresses', () => {
  let list: Record<string, { address: string; netmask: string; family: string; mac: string; internal: boolean; cidr: string }[]> = {
    lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '', internal: true, cidr: '127.0.0.1/8' }],
    eth0: [
      { address: '10.1.2.3', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '10.1.2.3/24' },
      { address: 'fe80::1%eth0', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '', internal: false, cidr: 'fe80::1/64' },
    ],
  };
  const host = new HostAddresses(() => list as never);
  const direction = (src: string, dst: string): string => {
    const k = key(src, dst);
    return host.directionOf(k.words, k.ipVersion);
  };

  it('classifies out, in, local and transit from the host addresses', () => {
    assert.equal(direction('10.1.2.3', '8.8.8.8'), 'out');
    assert.equal(direction('8.8.8.8', '10.1.2.3'), 'in');
    assert.equal(direction('127.0.0.1', '127.0.0.1'), 'local');
    assert.equal(direction('10.1.2.3', '127.0.0.1'), 'local');
    assert.equal(direction('8.8.8.8', '9.9.9.9'), 'transit');
    assert.equal(direction('fe80::1', 'fe80::2'), 'out');
    assert.equal(direction('fe80::2', 'fe80::1'), 'in');
  });

  it('counts multicast and broadcast received as in, and sent as out', () => {
    assert.equal(direction('10.1.2.9', '224.0.0.251'), 'in');
    assert.equal(direction('10.1.2.9', '10.1.2.255'), 'in');
    assert.equal(direction('10.1.2.9', '255.255.255.255'), 'in');
    assert.equal(direction('fe80::9', 'ff02::1'), 'in');
    assert.equal(direction('10.1.2.3', '224.0.0.251'), 'out');
  });

  it('follows address changes after refresh', () => {
    assert.equal(direction('10.8.0.2', '10.8.0.1'), 'transit');
    list = { ...list, tun0: [{ address: '10.8.0.2', netmask: '255.255.255.255', family: 'IPv4', mac: '', internal: false, cidr: '10.8.0.2/32' }] };
    assert.equal(host.refresh(), true);
    assert.equal(host.refresh(), false);
    assert.equal(direction('10.8.0.2', '10.8.0.1'), 'out');
  });
});

describe('HostInterfaces', () => {
  it('names interfaces by index, matches patterns, and picks up new interfaces', () => {
    const sys = mkdtempSync(path.join(tmpdir(), 'endsight-sysnet-'));
    const add = (name: string, ifindex: number): void => {
      mkdirSync(path.join(sys, name));
      writeFileSync(path.join(sys, name, 'ifindex'), `${ifindex}\n`);
    };
    try {
      add('lo', 1);
      add('eth0', 2);
      let now = 0;
      const interfaces = new HostInterfaces(['eth*', 'tun*'], sys, () => now);
      assert.equal(interfaces.name(2), 'eth0');
      assert.equal(interfaces.monitored(2), true);
      assert.equal(interfaces.monitored(1), false);
      add('tun0', 7);
      const version = interfaces.version;
      assert.equal(interfaces.name(7), null, 're-read at most once a second');
      now += 1000;
      assert.equal(interfaces.name(7), 'tun0');
      assert.equal(interfaces.monitored(7), true);
      assert.notEqual(interfaces.version, version);
      assert.equal(new HostInterfaces([], sys).monitored(12345), true, 'no patterns: everything');
    } finally {
      rmSync(sys, { recursive: true, force: true });
    }
  });
});

describe('agent configuration', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-config-'));
  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('resolves defaults and file values, with command-line overrides winning', () => {
    const config = loadAgentConfig(
      file('ok.yaml', 'host: h1\ncapture:\n  interfaces: [eth0]\n  filter: not port 22\nflows:\n  idle_timeout: 30s\n  max_flows: 5000\nstore:\n  quota: 1GiB\nhealth:\n  listen: "[::1]:9000"\n'),
      { interfaces: ['tun*'], exportInterval: '5s' },
    );
    assert.equal(config.host, 'h1');
    assert.equal(config.user, null);
    assert.deepEqual(config.capture, { interfaces: ['tun*'], filter: 'not port 22', snaplen: 128, bufferBytes: 8 * 1024 * 1024, cpuBudget: 0.25 });
    assert.equal(loadAgentConfig(file('budget.yaml', 'capture:\n  cpu_budget: 5%\n')).capture.cpuBudget, 0.05);
    assert.throws(() => loadAgentConfig(file('budget-bad.yaml', 'capture:\n  cpu_budget: 0.5\n')), /capture\.cpu_budget: expected a share of one CPU core such as 25%/);
    assert.deepEqual(config.flows, { idleTimeoutUs: 30e6, activeTimeoutUs: 1800e6, finTimeoutUs: 5e6, exportIntervalUs: 5e6, maxFlows: 5000 });
    assert.deepEqual(config.store, { retentionMs: 30 * 86_400_000, quotaBytes: 1024 ** 3 });
    assert.deepEqual(config.health, { host: '::1', port: 9000 });
    assert.equal(loadAgentConfig(null, { health: 'off' }).health, null);
    // Collectors to export to: from the file or the command line, each checked.
    assert.deepEqual(loadAgentConfig(file('export.yaml', 'export:\n  - v9://127.0.0.1:9995\n  - "ipfix+tcp://[::1]:4739"\n')).export, ['v9://127.0.0.1:9995', 'ipfix+tcp://[::1]:4739']);
    assert.deepEqual(loadAgentConfig(null, { exports: ['v5://10.0.0.1:2055'] }).export, ['v5://10.0.0.1:2055']);
    assert.throws(() => loadAgentConfig(null, { exports: ['netflow://x:1'] }), (e: unknown) => e instanceof ConfigError && /--export: Cannot export to "netflow:\/\/x:1"/.test(e.problems[0]));
    // An alias before its anchor is a configuration problem, not a crash.
    assert.throws(() => loadAgentConfig(file('alias.yaml', 'flows: *later\n')), (e: unknown) => e instanceof ConfigError && /alias\.yaml: Unresolved alias/.test(e.problems[0]));
  });

  it('lists every problem at once, each naming the key', () => {
    const bad = file('bad.yaml', 'flows:\n  idle_timeout: soon\n  max_flows: -1\ncapture:\n  snaplen: 10\n  colour: red\nhealth:\n  listen: nowhere\nextra: 1\n');
    assert.throws(() => loadAgentConfig(bad), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const problems = e.problems;
      assert.equal(problems.length, 6, problems.join('\n'));
      for (const k of ['flows.idle_timeout', 'flows.max_flows', 'capture.snaplen', 'capture: unknown setting colour', 'health.listen', 'top level: unknown setting extra']) {
        assert.ok(problems.some((p) => p.includes(k)), `${k} in ${problems.join(' | ')}`);
      }
      assert.ok(problems.every((p) => p.startsWith(bad)));
      return true;
    });
  });

  it('quotes an unknown key that is not a plain name, so that each problem stays one line', () => {
    assert.throws(() => loadAgentConfig(file('odd-key.yaml', '"a\\nb": 1\n')), (error: Error) => error.message === `${path.join(dir, 'odd-key.yaml')}: top level: unknown setting "a\\nb" (docs/agent.md lists them)`);
  });

  it('reports YAML syntax errors with their line, and unreadable files', () => {
    assert.throws(() => loadAgentConfig(file('syntax.yaml', 'flows:\n  idle_timeout: [1\n')), /syntax\.yaml: line \d+/);
    assert.throws(() => loadAgentConfig(path.join(dir, 'missing.yaml')), /missing\.yaml: cannot read the configuration/);
    assert.throws(() => loadAgentConfig(file('list.yaml', '- a\n- b\n')), /expected a mapping/);
  });
});

describe('health metrics', () => {
  it('prints every metric with HELP and TYPE, and skips by reason', () => {
    const status: AgentStatus = {
      startedAt: 1_700_000_000_000,
      meter: { packetsSeen: 10, packetsMetered: 9, packetsSkipped: 1, packetsSampledOut: 0, flowsEnded: 3, flowsActive: 2, flowsEvicted: 0, fragmentDatagramsWithoutFirst: 0, fragmentTableEvictions: 0, nowUs: 0, firstPacketUs: 0 },
      capture: { captured: 10, receivedByFilter: 11, droppedByKernel: 4 },
      captureRunning: true,
      captureRestarts: 0,
      issues: { non_ip: 1 },
      recordsStored: 3,
      segmentsWritten: 1,
      storeBytes: 2048,
      exportFailures: 0,
      interfaces: 2,
      hostAddresses: 3,
      attributionUnavailable: null,
      attribution: { events: 9, flows: 4, attributed: 3, ambiguous: 0, unknown: 1, byMeans: { sendReceive: 2, connect: 0, both: 1 }, otherNamespace: 0 },
      socketsKnown: 5,
      eventDelayMaxMs: 3,
      sampling: 8,
      cpuFraction: 0.31,
      cpuBudget: 0.25,
      privacy: { version: 4, section: 'default', issuer: 'authority', dropped: 7, minGroupSize: 5 },
    };
    const text = formatMetrics(status);
    assert.match(text, /^endsight_privacy_policy_version 4$/m);
    assert.match(text, /^endsight_privacy_flows_dropped_total 7$/m);
    assert.match(text, /^endsight_capture_packets_dropped_total 4$/m);
    assert.match(text, /^endsight_packets_skipped_total\{reason="non_ip"\} 1$/m);
    assert.match(text, /^endsight_flows_active 2$/m);
    assert.match(text, /^endsight_sampling_rate 8$/m);
    assert.match(text, /^endsight_flows_attributed_ratio 0\.75$/m);
    assert.match(text, /^endsight_flows_attribution_total\{outcome="unknown"\} 1$/m);
    assert.match(text, /^process_resident_memory_bytes \d+$/m);
    for (const line of text.trim().split('\n')) assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [-+.\deInfNa]+)$/, line);
  });
});

describe('CpuBudget', () => {
  it('raises N fast over the budget while packets cost, lowers it step by step once they are gone', async () => {
    const { CpuBudget } = await import('./cpu-budget.js');
    const budget = new CpuBudget(0.1);
    assert.equal(budget.update(0.05, 50_000), 1, 'under the budget: every packet');
    assert.equal(budget.update(0.8, 400_000), 4, 'smoothed load 0.28, 2.8 times the budget: N × 4');
    assert.equal(budget.update(0.12, 400_000), 8, 'still over');
    assert.equal(budget.update(0.09, 400_000), 8, 'within the budget: N stays');
    const relaxed: number[] = [];
    for (let i = 0; i < 6; i++) relaxed.push(budget.update(0.01, 400_000));
    assert.deepEqual(relaxed, [8, 8, 4, 2, 1, 1], 'the storm costs less: after about two quiet seconds, halving each second');
    for (let i = 0; i < 40; i++) budget.update(100, 1e9);
    assert.equal(budget.sampling, 65_536, 'bounded');
  });

  it('goes back to every packet when the packets are gone, however busy the agent still is', async () => {
    const { CpuBudget } = await import('./cpu-budget.js');
    const budget = new CpuBudget(0.1);
    budget.update(0.05, 0);
    for (let i = 0; i < 4; i++) budget.update(0.6, 400_000);
    const storm = budget.sampling;
    assert.ok(storm >= 64, `a storm: 1 in ${storm}`);
    assert.equal(budget.update(0.6, 0), storm, 'one tick without a batch is not the end of a storm');
    const after: number[] = [];
    for (let i = 0; i < 20 && budget.sampling > 1; i++) after.push(budget.update(0.3, 0));
    assert.equal(budget.sampling, 1, `back to every packet while three times over the budget with other work: ${after.join(' ')}`);
    assert.ok(after.length <= 12, `within 12 s: ${after.join(' ')}`);
    for (let i = 0; i < 10; i++) budget.update(0.5, 200);
    assert.equal(budget.sampling, 1, 'over the budget with few packets: sampling would not help, N stays 1');
  });
});
