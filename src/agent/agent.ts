/**
 * The end-system agent: live capture → flow meter → local store, running until stopped.
 *
 *   capture program (capture privileges only) --flow entries--> meter (this process) --> store (Parquet)
 *
 * The capture program writes a batch about every second while there are packets. With each batch
 * (at most once a second), or when no batch came for a while (IDLE_TICK_MS), the agent ends flows
 * that went quiet (on the wall clock, less DELIVERY_SLACK_US so that a packet still in the capture
 * pipeline can never find its flow already ended), re-reads the host's addresses and checks its CPU
 * budget. Records never depend on when that happens (packet times decide). Every export interval the finished records are written
 * to the store, so a crash loses at most one interval. `stop()` ends every active flow and writes
 * it before returning. A capture that fails (the program killed, interface trouble) is restarted with
 * back-off, and the meter carries on.
 */
import type { Logger } from 'pino';
import v8 from 'node:v8';
import { IssueCounter } from '../common/issue-counter.js';
import { FlowMeter, type FlowMeterStats } from '../flow/index.js';
import type { FlowExporter } from '../netflow/exporter.js';
import type { FlowStore, FlushResult } from '../store/index.js';
import type { PolicyStatus, PrivacyGuard } from '../privacy/privacy-guard.js';
import type { AgentConfig } from './agent-config.js';
import type { AttributionFeed, StartAttribution } from './attribution/attribution-feed.js';
import type { NatMapping } from './attribution/nat-events.js';
import type { ProcessInfo } from './attribution/process-directory.js';
import { ownNetworkNamespace, type SocketEvent } from './attribution/socket-events.js';
import { SocketOwners, type AttributionStats } from './attribution/socket-owners.js';
import { CpuBudget } from './cpu-budget.js';
import { HostAddresses } from './host-addresses.js';
import { HostInterfaces } from './link-interfaces.js';
import type { CaptureBatch } from './capture/capture-batch.js';
import type { CaptureCounters, CaptureHandle, StartCapture } from './capture/capture-program.js';

/** A socket in use is re-reported at least this often (native/socket-events.bpf.c: every 10 s). */
const SOCKET_REPORT_INTERVAL_US = 10_000_000;
/** How late a packet may reach the meter after it was captured: the ring's 1 s block timeout, the program's batches (1 s, or 2 s when small), slack. */
const DELIVERY_SLACK_US = 5_000_000;
const TICK_MS = 1000;
/**
 * With no packets, nothing to export soon and no sampling to relax, the agent looks at the clock this
 * often only (a Node.js process that wakes costs about half a millisecond of CPU each time, half the
 * agent's whole cost at 20,000 packets/s). While packets arrive, the capture program's batches (about
 * one a second) bring the tick with them, and the timer is only the fallback.
 */
const IDLE_TICK_MS = 5000;
/**
 * The host's addresses are re-read when the capture program says the kernel changed them (netlink),
 * and this often anyway (a safety net: a capture restarting, netlink unavailable).
 */
const ADDRESS_REFRESH_MS = 30_000;
/** Socket sightings are kept for minutes (retentionUs); forgetting them this often is soon enough. */
const OWNER_EXPIRY_MS = 10_000;

/**
 * V8's young generation starts at 1 MiB a semi-space and doubles, up to 16 MiB, whenever much
 * survives a scavenge: a storm of new flows grows it to 32 MiB, which stays resident, a fifth of the
 * agent's memory budget (150 MB at 100,000 flows). Growth factor 1 keeps it at its start size;
 * what the meter keeps lives in typed arrays and the old generation anyway, so scavenges stay
 * cheap (measured: CPU per packet unchanged at 20,000 and 150,000 packets/s). The flag is read at
 * each growth, so setting it at run time takes effect (a command-line flag would need `node
 * --max-semi-space-size`, which `endsight agent` cannot give itself).
 */
function keepYoungGenerationSmall(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}
const MAX_RESTART_DELAY_MS = 30_000;

/** What the health endpoint and the logs report. */
export interface AgentStatus {
  startedAt: number;
  meter: FlowMeterStats;
  capture: CaptureCounters;
  captureRunning: boolean;
  captureRestarts: number;
  issues: Record<string, number>;
  recordsStored: number;
  segmentsWritten: number;
  storeBytes: number;
  exportFailures: number;
  interfaces: number;
  hostAddresses: number;
  /** Why attribution is off, or null while it runs. */
  attributionUnavailable: string | null;
  attribution: AttributionStats;
  socketsKnown: number;
  eventDelayMaxMs: number;
  /** Current 1-in-N packet sampling. */
  sampling: number;
  /** CPU used over the last second, as a fraction of one core, and the budget. */
  cpuFraction: number;
  cpuBudget: number;
  /** The privacy policy in force, or null without a policy guard. */
  privacy: PolicyStatus | null;
}

export class Agent {
  private readonly issues = new IssueCounter();
  /** Batches on their way to the NetFlow/IPFIX collectors. */
  private exportChain: Promise<void> = Promise.resolve();
  private readonly meter: FlowMeter;
  private readonly addresses = new HostAddresses();
  private readonly owners: SocketOwners;
  private attributionFeed: AttributionFeed | null = null;
  private attributionUnavailable: string | null = 'not started';
  /** Longest time from a socket event in the kernel to its handling here, ms. */
  private eventDelayMaxMs = 0;
  private readonly interfaces: HostInterfaces;
  private capture: CaptureHandle | null = null;
  private stopping = false;
  private ticker: NodeJS.Timeout | null = null;
  private lastTickMs = Date.now();
  private lastAddressRefreshMs = Date.now();
  private lastOwnerExpiryMs = Date.now();
  private lastExportMs = Date.now();
  private exportInFlight: Promise<void> | null = null;
  private readonly startedAt = Date.now();
  private captureRestarts = 0;
  private recordsStored = 0;
  private segmentsWritten = 0;
  private exportFailures = 0;
  private wakeRestart: (() => void) | null = null;
  private cpuBudget: CpuBudget;
  /** Set by reload(): the capture ends to restart with new settings, not because it failed. */
  private captureRestartRequested = false;
  private lastCpu = process.cpuUsage();
  private lastCpuAtMs = Date.now();
  private cpuFraction = 0;
  /** Packets the meter had seen (metered or sampled out) at the last budget check. */
  private packetsSeenCounted = 0;
  /** Counters of earlier captures, so the totals survive a capture restart; and the current one's. */
  private countersBefore: CaptureCounters = NO_COUNTERS;
  private counters: CaptureCounters = NO_COUNTERS;
  /** The capture program's CPU time: its last report and what the budget has counted of it, µs. */
  private captureCpuUs = 0;
  private captureCpuCountedUs = 0;
  /** Current 1-in-N packet sampling (the CPU budget). */
  private sampling = 1;

  constructor(
    private config: AgentConfig,
    private readonly store: FlowStore,
    private storeBytes: number,
    private readonly log: Logger,
    /** How capture and attribution are started: here, or through the privileged supervisor. */
    private readonly helpers: { startCapture: StartCapture; startAttribution: StartAttribution },
    /** NetFlow/IPFIX collectors that get every record too (docs/netflow.md), or null. */
    private readonly exporter: FlowExporter | null = null,
    /** The privacy policy every record passes before it is stored or exported (docs/privacy.md), or null: none. */
    private readonly privacy: PrivacyGuard | null = null,
  ) {
    keepYoungGenerationSmall();
    this.interfaces = new HostInterfaces(config.capture.interfaces);
    this.cpuBudget = new CpuBudget(config.capture.cpuBudget);
    this.owners = new SocketOwners(this.addresses, {
      ownNetns: ownNetworkNamespace(),
      lookbackUs: SOCKET_REPORT_INTERVAL_US + config.flows.idleTimeoutUs,
      retentionUs: config.flows.idleTimeoutUs + 2 * DELIVERY_SLACK_US + 120_000_000,
      maxKeys: Math.max(65_536, 2 * config.flows.maxFlows),
    });
    this.meter = new FlowMeter(
      {
        idleTimeoutUs: config.flows.idleTimeoutUs,
        activeTimeoutUs: config.flows.activeTimeoutUs,
        finTimeoutUs: config.flows.finTimeoutUs,
        maxFlows: config.flows.maxFlows,
        host: config.host,
        source: 'live',
        linkInterfaces: this.interfaces,
        direction: this.addresses.directionOf,
        ownerOf: (key, ipVersion, startUs, endUs) => this.owners.ownerOf(key, ipVersion, startUs, endUs),
      },
      this.issues,
    );
  }

  /** Captures until `stop()`; resolves once every flow is stored. Rejects when the first capture cannot start. */
  async run(): Promise<void> {
    this.scheduleTick();
    await this.startAttribution();
    let delayMs = 1000;
    let first = true;
    let started = false;
    try {
      while (!this.stopping) {
        let capture: CaptureHandle;
        try {
          capture = await this.helpers.startCapture({
            snaplen: this.config.capture.snaplen,
            filter: this.config.capture.filter,
            bufferKiB: Math.ceil(this.config.capture.bufferBytes / 1024),
          });
        } catch (error) {
          if (first) throw error;
          this.log.error({ err: (error as Error).message, retryInMs: delayMs }, 'capture did not restart');
          await this.sleep(delayMs);
          delayMs = Math.min(delayMs * 2, MAX_RESTART_DELAY_MS);
          continue;
        }
        first = false;
        started = true;
        this.capture = capture;
        this.counters = NO_COUNTERS;
        this.captureCpuUs = this.captureCpuCountedUs = 0;
        if (this.sampling > 1) capture.setSampling(this.sampling);
        this.log.info({ interfaces: this.config.capture.interfaces.length > 0 ? this.config.capture.interfaces : 'all', filter: this.config.capture.filter, snaplen: this.config.capture.snaplen }, 'capture started');
        const startedMs = Date.now();
        let protocolFailure: string | null = null;
        try {
          for await (const batch of capture.batches()) this.meterBatch(batch);
        } catch (error) {
          protocolFailure = (error as Error).message;
          await capture.stop();
        }
        await capture.exited;
        this.countersBefore = add(this.countersBefore, this.counters);
        this.counters = NO_COUNTERS;
        this.capture = null;
        if (this.stopping) break;
        this.captureRestarts++;
        if (this.captureRestartRequested) {
          this.captureRestartRequested = false;
          this.log.info('capture restarting with the reloaded settings');
          continue;
        }
        if (Date.now() - startedMs > 60_000) delayMs = 1000;
        this.log.error({ reason: protocolFailure ?? capture.failure ?? 'the capture ended', retryInMs: delayMs }, 'capture stopped; restarting');
        await this.sleep(delayMs);
        delayMs = Math.min(delayMs * 2, MAX_RESTART_DELAY_MS);
      }
    } finally {
      if (this.ticker) clearTimeout(this.ticker);
      this.ticker = null;
      await this.attributionFeed?.stop();
      if (started) {
        this.refreshAddresses(); // the remaining flows are classified now, with the addresses of now
        this.meter.finish();
        await this.exportRecords();
        // The last records to the collectors too, but a collector that does not read does not hold the stop.
        await Promise.race([this.exportChain, new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
        this.log.info({ recordsStored: this.recordsStored, packets: this.meter.stats().packetsSeen }, 'agent stopped; every flow stored');
      }
    }
  }

  /** Stops capturing; `run()` then stores every active flow and resolves. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.wakeRestart?.();
    await this.capture?.stop();
  }

  /**
   * Applies a new configuration (SIGHUP). Capture settings restart the capture; export interval,
   * interfaces and the CPU budget apply at once; timeouts, the flow cap, the store and the health address need a restart.
   */
  async reload(next: AgentConfig): Promise<string[]> {
    const needRestart: string[] = [];
    const before = this.config;
    if (JSON.stringify(before.flows) !== JSON.stringify({ ...next.flows, exportIntervalUs: before.flows.exportIntervalUs })) needRestart.push('flows');
    if (before.dataDir !== next.dataDir) needRestart.push('data_dir');
    if (JSON.stringify(before.store) !== JSON.stringify(next.store)) needRestart.push('store');
    if (JSON.stringify(before.health) !== JSON.stringify(next.health)) needRestart.push('health');
    if (before.host !== next.host) needRestart.push('host');
    if (JSON.stringify(before.fleet) !== JSON.stringify(next.fleet)) needRestart.push('fleet');
    if (before.privacy.authorityPem !== next.privacy.authorityPem || before.privacy.keyHex !== next.privacy.keyHex) needRestart.push('privacy');
    // A new signed policy file applies at once, if it is newer than the policy in force.
    if (next.privacy.policyText !== null && next.privacy.policyText !== before.privacy.policyText && this.privacy) {
      await this.privacy.offer(next.privacy.policyText, 'privacy.policy');
    }
    const captureChanged =
      before.capture.filter !== next.capture.filter || before.capture.snaplen !== next.capture.snaplen || before.capture.bufferBytes !== next.capture.bufferBytes;
    this.config = { ...before, capture: next.capture, flows: { ...before.flows, exportIntervalUs: next.flows.exportIntervalUs }, privacy: { ...before.privacy, policyText: next.privacy.policyText } };
    if (JSON.stringify(before.capture.interfaces) !== JSON.stringify(next.capture.interfaces)) {
      this.interfaces.setPatterns(next.capture.interfaces);
    }
    if (before.capture.cpuBudget !== next.capture.cpuBudget) this.cpuBudget = new CpuBudget(next.capture.cpuBudget);
    if (captureChanged && this.capture) {
      this.captureRestartRequested = true;
      await this.capture.stop(); // run() starts it again with the new settings
    }
    return needRestart;
  }

  status(): AgentStatus {
    return {
      startedAt: this.startedAt,
      meter: this.meter.stats(),
      capture: add(this.countersBefore, this.counters),
      captureRunning: this.capture !== null,
      captureRestarts: this.captureRestarts,
      issues: this.issues.toJSON(),
      recordsStored: this.recordsStored,
      segmentsWritten: this.segmentsWritten,
      storeBytes: this.storeBytes,
      exportFailures: this.exportFailures,
      interfaces: this.interfaces.list().size,
      hostAddresses: this.addresses.count,
      attributionUnavailable: this.attributionUnavailable,
      attribution: this.owners.statistics(),
      socketsKnown: this.owners.size,
      eventDelayMaxMs: this.eventDelayMaxMs,
      sampling: this.sampling,
      cpuFraction: this.cpuFraction,
      cpuBudget: this.config.capture.cpuBudget,
      privacy: this.privacy?.status() ?? null,
    };
  }

  /** One batch of the capture program into the meter; its counters into the status. */
  private meterBatch(batch: CaptureBatch): void {
    if (batch.netChanged) this.refreshAddresses();
    this.meter.processCaptureBatch(batch.body, batch.sampling, batch.packetsSeen, batch.packetsSampledOut);
    this.counters = {
      captured: this.counters.captured + batch.packetsSeen,
      receivedByFilter: batch.pcapReceived,
      droppedByKernel: batch.pcapDropped,
    };
    this.captureCpuUs = batch.cpuUs;
    // The batches come about once a second: the tick comes with them rather than with a timer of its own.
    if (Date.now() - this.lastTickMs >= 0.9 * TICK_MS) this.tick();
  }

  private refreshAddresses(): void {
    this.lastAddressRefreshMs = Date.now();
    this.addresses.refresh();
  }

  /**
   * The fallback timer: every TICK_MS while sampling is on (it must relax even if packets stop) or the
   * export interval is that short, else every IDLE_TICK_MS; it ticks unless a batch just did. It is
   * not re-armed by the batches' ticks: a cleared Node.js timer still wakes the process at its old
   * time, which would cost as much as the tick it spares.
   */
  private scheduleTick(): void {
    if (this.stopping) return;
    const idleMs = Math.min(IDLE_TICK_MS, Math.max(TICK_MS, this.config.flows.exportIntervalUs / 1000));
    this.ticker = setTimeout(() => {
      if (Date.now() - this.lastTickMs >= 0.9 * TICK_MS) this.tick();
      this.scheduleTick();
    }, this.sampling > 1 ? TICK_MS : idleMs);
  }

  private tick(): void {
    this.lastTickMs = Date.now();
    if (this.capture === null || this.lastTickMs - this.lastAddressRefreshMs >= ADDRESS_REFRESH_MS) this.refreshAddresses();
    this.meter.advance(Date.now() * 1000 - DELIVERY_SLACK_US);
    if (this.lastTickMs - this.lastOwnerExpiryMs >= OWNER_EXPIRY_MS) {
      this.lastOwnerExpiryMs = this.lastTickMs;
      this.owners.expire(Date.now() * 1000);
    }
    this.enforceCpuBudget();
    if ((Date.now() - this.lastExportMs) * 1000 >= this.config.flows.exportIntervalUs) {
      this.lastExportMs = Date.now();
      void this.exportRecords();
    }
  }

  /**
   * Measures the CPU used since the last tick, by this process and the capture program (as of its
   * last batch), and the packets seen, and sets the packet sampling accordingly.
   */
  private enforceCpuBudget(): void {
    // A store write (and a compaction after it) is work sampling cannot lower: its CPU is left out.
    if (this.exportInFlight) return;
    const now = Date.now();
    const cpu = process.cpuUsage();
    const usedUs = cpu.user - this.lastCpu.user + (cpu.system - this.lastCpu.system) + (this.captureCpuUs - this.captureCpuCountedUs);
    this.captureCpuCountedUs = this.captureCpuUs;
    const wallUs = Math.max(1, (now - this.lastCpuAtMs) * 1000);
    this.lastCpu = cpu;
    this.lastCpuAtMs = now;
    this.cpuFraction = usedUs / wallUs;
    const { packetsSeen } = this.meter.stats();
    const packetsPerSecond = (packetsSeen - this.packetsSeenCounted) / (wallUs / 1e6);
    this.packetsSeenCounted = packetsSeen;
    const before = this.sampling;
    const n = this.cpuBudget.update(this.cpuFraction, packetsPerSecond);
    if (n !== before) {
      this.sampling = n;
      this.capture?.setSampling(n);
      const percent = (x: number): string => `${(100 * x).toFixed(0)}%`;
      this.log.warn(
        { sampling: n, cpu: percent(this.cpuFraction), budget: percent(this.config.capture.cpuBudget) },
        n > before ? `over the CPU budget: metering 1 packet in ${n}` : n === 1 ? 'back under the CPU budget: metering every packet' : `metering 1 packet in ${n}`,
      );
    }
  }

  /**
   * Starts the socket events that attribute flows to processes. Without them (program not built, no BPF
   * in this kernel, no privileges) the agent goes on unattributed and says why, once.
   */
  private async startAttribution(): Promise<void> {
    const onOwner = (event: SocketEvent, owner: ProcessInfo): void => {
      const delayMs = Number(process.hrtime.bigint() - event.monotonicNs) / 1e6;
      if (delayMs > this.eventDelayMaxMs) this.eventDelayMaxMs = delayMs;
      this.owners.record(event, owner, Date.now() * 1000);
    };
    const onNat = (mapping: NatMapping): void => this.owners.recordNat(mapping, Date.now() * 1000);
    try {
      this.attributionFeed = await this.helpers.startAttribution({ onOwner, onNat });
      this.attributionUnavailable = null;
      this.log.info('attribution started (eBPF socket tracepoints)');
      if (this.attributionFeed.natUnavailable !== null) {
        this.log.warn({ reason: this.attributionFeed.natUnavailable }, 'address translations not followed: flows the host NATs stay unattributed after translation');
      }
      void this.attributionFeed.exited.then(() => {
        if (this.stopping) return;
        this.attributionUnavailable = 'the socket events program stopped';
        this.log.error('attribution stopped: the socket events program exited; flows from now on stay unattributed');
      });
    } catch (error) {
      this.attributionUnavailable = (error as Error).message;
      this.log.warn({ reason: this.attributionUnavailable }, 'attribution unavailable: process, user and container stay NULL');
    }
  }

  /** Writes the finished records to the store; one write at a time. A failed write is logged and counted, never fatal. */
  private async exportRecords(): Promise<void> {
    while (this.exportInFlight) await this.exportInFlight;
    if (this.meter.pendingRecords === 0 && this.store.pendingCount === 0) return;
    const drained = this.privacy ? this.privacy.apply(this.meter.drain()) : this.meter.drain();
    if (this.exporter && drained.length > 0) {
      // In order, one batch after the other, beside the store: a slow collector never holds storing up.
      const records = drained.toRecords();
      const exporter = this.exporter;
      this.exportChain = this.exportChain.then(() => exporter.send(records)).catch((error: Error) => this.log.error({ err: error.message }, 'exporting records failed'));
    }
    this.store.append(drained);
    this.exportInFlight = this.store
      .flush()
      .then((result: FlushResult) => {
        this.recordsStored += result.records;
        this.segmentsWritten += result.segments.length;
        this.storeBytes += result.bytesWritten - result.retention.bytesFreed;
        this.log.debug({ records: result.records, segments: result.segments.length, bytes: result.bytesWritten }, 'records stored');
        if (result.compactionError) this.log.warn({ err: result.compactionError }, 'store compaction failed; the segments stay as they were');
        if (result.compaction) {
          const c = result.compaction;
          this.storeBytes += c.bytesAfter - c.bytesBefore; // the inputs are hidden now, deleted after their grace
          this.log.info({ day: c.day, segments: c.segmentsMerged, bytesBefore: c.bytesBefore, bytesAfter: c.bytesAfter }, `store compacted: ${c.segmentsMerged} segments of ${c.day} merged into one`);
        }
      })
      .catch((error: Error) => {
        this.exportFailures++;
        this.log.error({ err: error.message }, 'storing records failed');
      })
      .finally(() => {
        this.exportInFlight = null;
        // The budget's next measure starts here, after the write (see enforceCpuBudget).
        this.lastCpu = process.cpuUsage();
        this.lastCpuAtMs = Date.now();
        this.captureCpuCountedUs = this.captureCpuUs;
        this.packetsSeenCounted = this.meter.stats().packetsSeen;
      });
    await this.exportInFlight;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wakeRestart = done;
    });
  }
}

const NO_COUNTERS: CaptureCounters = { captured: 0, receivedByFilter: 0, droppedByKernel: 0 };

function add(a: CaptureCounters, b: CaptureCounters): CaptureCounters {
  return { captured: a.captured + b.captured, receivedByFilter: a.receivedByFilter + b.receivedByFilter, droppedByKernel: a.droppedByKernel + b.droppedByKernel };
}
