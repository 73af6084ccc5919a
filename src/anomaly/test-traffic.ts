/**
 * Test support (not exported): a workstation's normal hour as flow records, and two hosts' stores
 * with four weeks of history and injected anomalies in the hour at `hourUs`.
 */
import path from 'node:path';
import type { FlowRecord } from '../flow/index.js';
import { historyRecords, writeRecords } from './synthetic-history.js';

const BASE: Omit<FlowRecord, 'startUs' | 'endUs' | 'srcAddr' | 'dstAddr' | 'srcPort' | 'dstPort' | 'protocol' | 'packets' | 'bytes'> = {
  host: 'h', tcpFlags: 0, direction: 'unknown', endReason: 'idle', sampling: 1, interfaceName: 'eth0', source: 'test',
  process: null, pid: null, username: null, uid: null, container: null, command: null, tunnel: null,
};

/** Both directions of one connection: the client's request and the server's answer. */
export function connection(host: string, atUs: number, client: string, server: string, clientPort: number, port: number, protocol: number, up: number, down: number, process: string | null = null): FlowRecord[] {
  const common = { ...BASE, host, startUs: atUs, endUs: atUs + 500_000, protocol, process };
  return [
    { ...common, srcAddr: client, dstAddr: server, srcPort: clientPort, dstPort: port, packets: Math.ceil(up / 500), bytes: up },
    { ...common, srcAddr: server, dstAddr: client, srcPort: port, dstPort: clientPort, packets: Math.ceil(down / 1000), bytes: down },
  ];
}

/** An hour of a workstation: web (tcp/443) to three servers, DNS, a few SSH sessions. */
export function normalHour(host: string, hourUs: number, client: string): FlowRecord[] {
  const out: FlowRecord[] = [];
  for (let i = 0; i < 40; i++) out.push(...connection(host, hourUs + i * 80e6, client, `192.0.2.${10 + (i % 3)}`, 40000 + i, 443, 6, 2000, 60_000, 'firefox'));
  for (let i = 0; i < 60; i++) out.push(...connection(host, hourUs + i * 55e6, client, '192.0.2.53', 50000 + i, 53, 17, 80, 200));
  for (let i = 0; i < 3; i++) out.push(...connection(host, hourUs + i * 900e6, client, '198.51.100.22', 45000 + i, 22, 6, 20_000, 30_000, 'ssh'));
  return out;
}

/**
 * Host a: normal hours, then a port scan (one probe and its reset per port) and an upload of 40 MB
 * over tcp/443. Host b: a never-seen application (1 MB over tcp/7777), a sweep of tcp/22 over 40
 * addresses, and a tiny never-seen application that must stay quiet. Returns each host's records.
 */
export async function writeTwoHosts(dir: string, hourUs: number): Promise<{ a: FlowRecord[]; b: FlowRecord[]; stores: { a: string; b: string } }> {
  const records = { a: [] as FlowRecord[], b: [] as FlowRecord[] };
  for (const [host, client, seed] of [['a', '10.1.0.1', 1], ['b', '10.2.0.1', 2]] as const) {
    const template = normalHour(`host-${host}`, hourUs, client);
    for (const record of historyRecords(template, { hourStartUs: hourUs, days: 28, seed })) records[host].push(record);
    records[host].push(...template);
  }
  for (let port = 1; port <= 300; port++) records.a.push(...connection('host-a', hourUs + 600e6, '10.1.0.1', '10.9.9.9', 41000, port, 6, 60, 54));
  records.a.push(...connection('host-a', hourUs + 1200e6, '10.1.0.1', '203.0.113.66', 44444, 443, 6, 40e6, 800_000, 'rclone'));
  for (let i = 0; i < 4; i++) records.b.push(...connection('host-b', hourUs + 300e6 + i * 1e6, '10.2.0.1', '10.2.0.77', 46000 + i, 7777, 6, 250_000, 5000));
  for (let i = 0; i < 40; i++) records.b.push(...connection('host-b', hourUs + 900e6, '10.2.0.1', `10.2.1.${i}`, 47000 + i, 22, 6, 60, 54));
  records.b.push(...connection('host-b', hourUs + 950e6, '10.2.0.1', '10.2.0.78', 48000, 9999, 17, 300, 300));
  const stores = { a: path.join(dir, 'a'), b: path.join(dir, 'b') };
  await writeRecords(stores.a, records.a);
  await writeRecords(stores.b, records.b);
  return { ...records, stores };
}
