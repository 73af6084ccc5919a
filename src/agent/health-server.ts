/**
 * The agent's health endpoint: GET /metrics (and /) in the Prometheus text exposition format
 * (version 0.0.4), on 127.0.0.1 by default. docs/agent.md describes every metric.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentStatus } from './agent.js';

export interface HealthSource {
  status(): AgentStatus;
}

export class HealthServer {
  private constructor(private readonly server: http.Server) {}

  /** Listens on host:port; rejects with a clear message when the address is taken or not local. */
  static async start(host: string, port: number, agent: HealthSource): Promise<HealthServer> {
    const server = http.createServer((request, response) => {
      const url = (request.url ?? '/').split('?')[0];
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET\n');
        return;
      }
      if (url !== '/metrics' && url !== '/') {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
        return;
      }
      // The capture's counters arrive with every batch, about once a second.
      const body = formatMetrics(agent.status());
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(request.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const why = error.code === 'EADDRINUSE' ? 'the address is in use (another agent?)' : error.code === 'EADDRNOTAVAIL' ? 'no interface has that address' : error.message;
        reject(new RangeError(`Cannot serve the health endpoint on ${host}:${port}: ${why}; choose another with --health HOST:PORT or --health off`));
      });
      server.listen(port, host, () => resolve());
    });
    return new HealthServer(server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The status as Prometheus metrics. */
export function formatMetrics(s: AgentStatus): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, value: number, labels = ''): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels} ${formatNumber(value)}`);
  };
  const cpu = process.cpuUsage();
  metric('endsight_up', 'gauge', '1 while the capture runs, 0 while it restarts.', s.captureRunning ? 1 : 0);
  metric('endsight_packets_total', 'counter', 'Packets that reached the meter.', s.meter.packetsSeen);
  metric('endsight_packets_metered_total', 'counter', 'Packets counted in a flow.', s.meter.packetsMetered);
  lines.push('# HELP endsight_packets_skipped_total Packets not counted in a flow, by reason.', '# TYPE endsight_packets_skipped_total counter');
  for (const [reason, count] of Object.entries(s.issues)) lines.push(`endsight_packets_skipped_total{reason="${reason}"} ${count}`);
  metric('endsight_capture_packets_received_total', 'counter', "Packets that passed the capture filter (libpcap's ps_recv).", s.capture.receivedByFilter);
  metric('endsight_capture_packets_dropped_total', 'counter', "Packets the kernel dropped because the capture ring was full (libpcap's ps_drop).", s.capture.droppedByKernel);
  metric('endsight_sampling_rate', 'gauge', 'Packet sampling in force: 1 packet in N is metered (1 = every packet).', s.sampling);
  metric('endsight_packets_sampled_out_total', 'counter', 'Packets passed over by sampling (each metered packet stands for N).', s.meter.packetsSampledOut);
  metric('endsight_cpu_ratio', 'gauge', 'CPU used by the agent process over the last second, as a share of one core.', s.cpuFraction);
  metric('endsight_cpu_budget_ratio', 'gauge', 'The CPU budget (capture.cpu_budget) as a share of one core.', s.cpuBudget);
  metric('endsight_capture_restarts_total', 'counter', 'Times the capture ended and was restarted.', s.captureRestarts);
  metric('endsight_flows_active', 'gauge', 'Flows in the flow table.', s.meter.flowsActive);
  metric('endsight_flows_ended_total', 'counter', 'Flow records finished by the meter.', s.meter.flowsEnded);
  metric('endsight_flows_evicted_total', 'counter', 'Flows ended early because the table was at max_flows.', s.meter.flowsEvicted);
  metric('endsight_privacy_policy_version', 'gauge', 'Version of the privacy policy in force (0: none).', s.privacy?.version ?? 0);
  metric('endsight_privacy_flows_dropped_total', 'counter', "Flow records the privacy policy's drop rules kept from the store.", s.privacy?.dropped ?? 0);
  metric('endsight_attribution_up', 'gauge', '1 while socket events attribute flows to processes, 0 when unavailable (see the log).', s.attributionUnavailable === null ? 1 : 0);
  metric('endsight_attribution_events_total', 'counter', 'Socket ownership events received from the kernel.', s.attribution.events);
  metric('endsight_attribution_event_delay_max_seconds', 'gauge', 'Longest delay from a socket event in the kernel to the agent.', s.eventDelayMaxMs / 1000);
  metric('endsight_attribution_sockets', 'gauge', 'Sockets whose owner is remembered.', s.socketsKnown);
  lines.push('# HELP endsight_flows_attribution_total Finished TCP and UDP flows by attribution outcome.', '# TYPE endsight_flows_attribution_total counter');
  lines.push(`endsight_flows_attribution_total{outcome="attributed"} ${s.attribution.attributed}`);
  lines.push(`endsight_flows_attribution_total{outcome="ambiguous"} ${s.attribution.ambiguous}`);
  lines.push(`endsight_flows_attribution_total{outcome="unknown"} ${s.attribution.unknown}`);
  lines.push('# HELP endsight_flows_attributed_by_means_total Attributed flows by the means whose sightings decided.', '# TYPE endsight_flows_attributed_by_means_total counter');
  lines.push(`endsight_flows_attributed_by_means_total{means="send_receive"} ${s.attribution.byMeans.sendReceive}`);
  lines.push(`endsight_flows_attributed_by_means_total{means="connect"} ${s.attribution.byMeans.connect}`);
  lines.push(`endsight_flows_attributed_by_means_total{means="both"} ${s.attribution.byMeans.both}`);
  metric('endsight_flows_attributed_other_namespace_total', 'counter', "Attributed flows whose socket was in another network namespace (a container's).", s.attribution.otherNamespace);
  metric(
    'endsight_flows_attributed_ratio',
    'gauge',
    'Share of finished TCP and UDP flows attributed to a process.',
    s.attribution.flows === 0 ? 0 : s.attribution.attributed / s.attribution.flows,
  );
  metric('endsight_records_stored_total', 'counter', 'Flow records written to the store.', s.recordsStored);
  metric('endsight_store_segments_written_total', 'counter', 'Segments written to the store.', s.segmentsWritten);
  metric('endsight_store_bytes', 'gauge', 'Bytes of flow segments in the store.', s.storeBytes);
  metric('endsight_store_write_failures_total', 'counter', 'Exports whose write to the store failed.', s.exportFailures);
  metric('endsight_interfaces', 'gauge', 'Network interfaces of the host.', s.interfaces);
  metric('endsight_host_addresses', 'gauge', 'Addresses of the host (used for direction).', s.hostAddresses);
  metric('process_cpu_seconds_total', 'counter', 'CPU time of the agent process (user + system).', (cpu.user + cpu.system) / 1e6);
  metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the agent process.', process.memoryUsage.rss());
  metric('process_start_time_seconds', 'gauge', 'Start time of the agent, seconds since the epoch.', s.startedAt / 1000);
  return lines.join('\n') + '\n';
}

function formatNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN';
}
