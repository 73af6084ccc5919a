/**
 * Runs endsight itself on a capture file through its CLI (`import`, then `query --format json`),
 * and returns its flow records normalised to {@link MeterFlow}, like the peers'.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MeterFlow } from './meter-flow.js';
import { runCommand } from '../../src/lab/netns.js';
import type { MeterTimeouts } from './peers.js';

/** Options for {@link runEndsight}. */
export interface EndsightRunOptions extends MeterTimeouts {
  /** Empty or missing data directory for this import. */
  dataDir: string;
  /** Repository root (holds bin/endsight.js). Default: found from this file's location. */
  repoRoot?: string;
}

/** What endsight produced. */
export interface EndsightResult {
  flows: MeterFlow[];
  commands: string[];
  /** The import's output (its summary of packets, flows and issues). */
  importOutput: string;
}

/** The query that reads every flow back, in the shape {@link MeterFlow} needs. */
export const ENDSIGHT_FLOWS_QUERY =
  'SELECT epoch_us(start_time) AS start_us, epoch_us(end_time) AS end_us, src_addr, dst_addr, src_port, dst_port, ' +
  'proto, packets, bytes, tcp_flags, end_reason FROM flows';

/** Repository root, from dist/test/differential/*.js (compiled) or test/differential/*.ts. */
export function defaultRepoRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const up of ['../../..', '../..']) {
    const root = join(here, up);
    if (existsSync(join(root, 'bin', 'endsight.js'))) return root;
  }
  throw new Error(`Cannot find the endsight repository (bin/endsight.js) above ${here}`);
}

/** Formats seconds as endsight's duration syntax (`90s`, `30m`). */
function duration(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

/**
 * `endsight import --data-dir DIR --idle-timeout 90s --active-timeout 30m FILE`, then
 * `endsight query --data-dir DIR --format json "<ENDSIGHT_FLOWS_QUERY>"` (JSON lines, one object per row).
 */
export async function runEndsight(pcapPath: string, options: EndsightRunOptions): Promise<EndsightResult> {
  const root = options.repoRoot ?? defaultRepoRoot();
  const bin = join(root, 'bin', 'endsight.js');
  if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) {
    throw new Error(`endsight's CLI is not built (${join(root, 'dist/src/cli/main.js')} missing): run \`npx tsc -p tsconfig.json\` in ${root}`);
  }
  await mkdir(options.dataDir, { recursive: true });
  const importArgv = [
    process.execPath, bin, 'import', '--data-dir', options.dataDir,
    '--idle-timeout', duration(options.idleTimeoutS ?? 90), '--active-timeout', duration(options.activeTimeoutS ?? 1800),
    pcapPath,
  ];
  const imported = await runCommand(importArgv, { timeoutMs: 300_000, cwd: root });
  const queryArgv = [process.execPath, bin, 'query', '--data-dir', options.dataDir, '--format', 'json', ENDSIGHT_FLOWS_QUERY];
  const queried = await runCommand(queryArgv, { timeoutMs: 300_000, cwd: root });
  return {
    flows: parseEndsightJsonLines(queried.stdout),
    commands: [importArgv.slice(1).join(' '), queryArgv.slice(1).join(' ')],
    importOutput: (imported.stdout + imported.stderr).trim(),
  };
}

/** Parses the query's JSON lines (numbers may come as JSON numbers or as numeric strings). */
export function parseEndsightJsonLines(text: string): MeterFlow[] {
  const flows: MeterFlow[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`Cannot parse endsight query output line as JSON: ${line.slice(0, 300)}`);
    }
    const num = (k: string): number => {
      const v = row[k];
      const n = typeof v === 'number' ? v : typeof v === 'string' || typeof v === 'bigint' ? Number(v) : NaN;
      if (!Number.isFinite(n)) throw new Error(`endsight row has no numeric ${k}: ${line.slice(0, 300)}`);
      return n;
    };
    const str = (k: string): string => {
      const v = row[k];
      if (typeof v !== 'string') throw new Error(`endsight row has no text ${k}: ${line.slice(0, 300)}`);
      return v;
    };
    flows.push({
      startUs: num('start_us'),
      endUs: num('end_us'),
      timeResolutionUs: 1,
      // Not normalised: endsight must print RFC 5952 text itself (the test checks it).
      srcAddr: str('src_addr'),
      dstAddr: str('dst_addr'),
      srcPort: num('src_port'),
      dstPort: num('dst_port'),
      protocol: num('proto'),
      packets: num('packets'),
      bytes: num('bytes'),
      tcpFlags: row.tcp_flags === null || row.tcp_flags === undefined ? 0 : num('tcp_flags'),
      endReason: typeof row.end_reason === 'string' ? row.end_reason : null,
    });
  }
  return flows;
}
