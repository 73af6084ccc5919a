/**
 * The agent's configuration: a YAML file (docs/agent.md lists every key), command-line overrides,
 * and defaults. Validated at start and at every reload; every problem is reported at once, each
 * naming the file, the key and what was expected.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { parseDurationMs } from '../common/duration.js';
import { parseByteSize } from '../common/byte-size.js';
import { defaultDataDir } from '../store/data-dir.js';

/** The configuration the agent runs with, every value resolved. */
export interface AgentConfig {
  dataDir: string;
  host: string;
  /**
   * The user the meter runs as when the agent starts as root (privilege separation); null: `endsight`
   * if that user exists, else `nobody`; `root` keeps everything in one root process.
   */
  user: string | null;
  capture: {
    /** Interface name patterns (`*` wildcard); empty: all interfaces. */
    interfaces: string[];
    filter: string | null;
    snaplen: number;
    bufferBytes: number;
    /** Most CPU the agent process may use, as a fraction of one core; beyond it packets are sampled 1-in-N. */
    cpuBudget: number;
  };
  flows: {
    idleTimeoutUs: number;
    activeTimeoutUs: number;
    finTimeoutUs: number;
    exportIntervalUs: number;
    maxFlows: number;
  };
  store: {
    retentionMs: number;
    /** null: the default, min(2 GiB, 10% of free disk). */
    quotaBytes: number | null;
  };
  /** Where the health endpoint listens, or null for none. */
  health: { host: string; port: number } | null;
}

/** Overrides from the command line; they win over the file. */
export interface AgentOverrides {
  dataDir?: string;
  interfaces?: string[];
  health?: string;
  filter?: string;
  exportInterval?: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} problems in the configuration:\n  ${problems.join('\n  ')}`);
  }
}

const duration = z.string().or(z.number()).transform((value, ctx) => {
  try {
    const ms = parseDurationMs(String(value), 'value');
    if (ms > 0) return ms;
  } catch {
    // reported below
  }
  ctx.addIssue({ code: 'custom', message: `expected a duration greater than zero such as 90s, 30m or 1h (got ${JSON.stringify(value)})` });
  return z.NEVER;
});

const size = z.string().or(z.number()).transform((value, ctx) => {
  const bytes = parseByteSize(String(value));
  if (bytes !== null && bytes > 0) return bytes;
  ctx.addIssue({ code: 'custom', message: `expected a size greater than zero such as 500MiB or 2GiB (got ${JSON.stringify(value)})` });
  return z.NEVER;
});

const wholeNumber = (min: number, max: number) =>
  z.number({ error: `expected a whole number from ${min} to ${max}` }).int(`expected a whole number from ${min} to ${max}`).min(min, `expected a whole number from ${min} to ${max}`).max(max, `expected a whole number from ${min} to ${max}`);

const percent = z.string().or(z.number()).transform((value, ctx) => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(String(value));
  const fraction = match ? Number(match[1]) / 100 : NaN;
  if (fraction > 0 && fraction <= 8) return fraction;
  ctx.addIssue({ code: 'custom', message: `expected a share of one CPU core such as 25% (up to 800%) (got ${JSON.stringify(value)})` });
  return z.NEVER;
});

const listen = z.string().transform((value, ctx) => {
  const parsed = parseListen(value);
  if (parsed !== undefined) return parsed;
  ctx.addIssue({ code: 'custom', message: `expected HOST:PORT such as 127.0.0.1:9469, or "off" (got ${JSON.stringify(value)})` });
  return z.NEVER;
});

const FILE_SCHEMA = z
  .object({
    data_dir: z.string().min(1).optional(),
    host: z.string().min(1).optional(),
    user: z.string().regex(/^[a-z_][a-z0-9_-]*\$?$/i, 'expected a user name such as endsight').optional(),
    capture: z
      .object({
        interfaces: z.array(z.string().min(1)).optional(),
        filter: z.string().nullable().optional(),
        snaplen: wholeNumber(68, 262_144).optional(),
        cpu_budget: percent.optional(),
        buffer: size.optional(),
      })
      .strict()
      .optional(),
    flows: z
      .object({
        idle_timeout: duration.optional(),
        active_timeout: duration.optional(),
        fin_timeout: duration.optional(),
        export_interval: duration.optional(),
        max_flows: wholeNumber(1, 100_000_000).optional(),
      })
      .strict()
      .optional(),
    store: z
      .object({
        retention: duration.optional(),
        quota: size.optional(),
      })
      .strict()
      .optional(),
    health: z.object({ listen }).strict().optional(),
  })
  .strict();

export const DEFAULT_HEALTH = '127.0.0.1:9469';

/** Reads and validates the configuration; throws ConfigError listing every problem. */
export function loadAgentConfig(file: string | null, overrides: AgentOverrides = {}): AgentConfig {
  const label = file ?? 'command line';
  let raw: unknown = {};
  if (file !== null) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError([`${file}: cannot read the configuration: ${(error as Error).message}`]);
    }
    const lines = new LineCounter();
    const document = parseDocument(text, { prettyErrors: false, lineCounter: lines });
    if (document.errors.length > 0) {
      throw new ConfigError(document.errors.map((e) => `${file}: line ${lines.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`));
    }
    raw = document.toJS() ?? {};
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError([`${file}: expected a mapping of settings at the top level`]);
  }
  const parsed = FILE_SCHEMA.safeParse(raw);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const where = issue.path.length > 0 ? issue.path.join('.') : 'top level';
      const message =
        issue.code === 'unrecognized_keys' ? `unknown setting${issue.keys.length > 1 ? 's' : ''} ${issue.keys.join(', ')} (docs/agent.md lists them)` : issue.message;
      problems.push(`${label}: ${where}: ${message}`);
    }
  }
  const c = parsed.success ? parsed.data : {};
  const flows = {
    idleTimeoutUs: (c.flows?.idle_timeout ?? 90_000) * 1000,
    activeTimeoutUs: (c.flows?.active_timeout ?? 1_800_000) * 1000,
    finTimeoutUs: (c.flows?.fin_timeout ?? 5_000) * 1000,
    exportIntervalUs: (c.flows?.export_interval ?? 60_000) * 1000,
    maxFlows: c.flows?.max_flows ?? 1_000_000,
  };
  if (overrides.exportInterval !== undefined) {
    const ms = safeDuration(overrides.exportInterval);
    if (ms === null) problems.push(`--export-interval: expected a duration greater than zero such as 10s (got ${JSON.stringify(overrides.exportInterval)})`);
    else flows.exportIntervalUs = ms * 1000;
  }
  let health: AgentConfig['health'] = c.health?.listen ?? parseListen(DEFAULT_HEALTH)!;
  if (overrides.health !== undefined) {
    const parsedHealth = parseListen(overrides.health);
    if (parsedHealth === undefined) problems.push(`--health: expected HOST:PORT such as 127.0.0.1:9469, or "off" (got ${JSON.stringify(overrides.health)})`);
    else health = parsedHealth;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    dataDir: overrides.dataDir ?? c.data_dir ?? defaultDataDir(),
    host: c.host ?? os.hostname(),
    user: c.user ?? null,
    capture: {
      interfaces: overrides.interfaces && overrides.interfaces.length > 0 ? overrides.interfaces : (c.capture?.interfaces ?? []),
      filter: overrides.filter ?? c.capture?.filter ?? null,
      snaplen: c.capture?.snaplen ?? 128,
      cpuBudget: c.capture?.cpu_budget ?? 0.25,
      bufferBytes: c.capture?.buffer ?? 8 * 1024 * 1024,
    },
    flows,
    store: { retentionMs: c.store?.retention ?? 30 * 86_400_000, quotaBytes: c.store?.quota ?? null },
    health,
  };
}

/** `HOST:PORT` (IPv6 as `[::1]:PORT`) or `off`; undefined when malformed. */
function parseListen(text: string): { host: string; port: number } | null | undefined {
  if (text === 'off') return null;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: match[1] ?? match[2], port };
}

function safeDuration(text: string): number | null {
  try {
    const ms = parseDurationMs(text, 'value');
    return ms > 0 ? ms : null;
  } catch {
    return null;
  }
}
