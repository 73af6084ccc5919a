/**
 * The agent's configuration: a YAML file (docs/agent.md lists every key), command-line overrides,
 * and defaults. Validated at start and at every reload; every problem is reported at once, each
 * naming the file, the key and what was expected.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { LineCounter, parseDocument } from 'yaml';
import { yamlValue } from '../common/yaml-value.js';
import { describeIssue } from '../common/config-issue.js';
import { parseExportTarget } from '../netflow/exporter.js';
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
  /** Fleet queries over NATS (docs/fleet.md), or null when the agent answers only local queries. */
  fleet: FleetConfig | null;
  /** NetFlow/IPFIX collectors the records also go to (`v9://host:port`, …; docs/netflow.md). */
  export: string[];
  /** The privacy policy (docs/privacy.md): files read when the configuration is loaded, as the worker cannot read root's. */
  privacy: {
    /** A signed policy (endsight policy sign), or null: none until one is pushed over the fleet. */
    policyText: string | null;
    /** The key that verifies policies, PEM; null: fleet.authority's. */
    authorityPem: string | null;
    /** The pseudonymisation key, hex; null: pseudonymised fields are removed. */
    keyHex: string | null;
  };
}

export interface FleetConfig {
  /** NATS server URL(s), comma-separated; credentials in the URL (nats://user:password@host:4222). */
  nats: string;
  /** The authority's public key, PEM (read when the configuration is loaded: the worker cannot read root's files). */
  authorityPem: string;
  /** The fleet's name: subjects and the envelopes' audience. */
  name: string;
  id: string;
  site: string | null;
  tags: string[];
  /** TLS to the broker: CA, and a client certificate and key, PEM; null: the URL's scheme decides. */
  tls: { ca: string | null; cert: string | null; key: string | null } | null;
}

/** Overrides from the command line; they win over the file. */
export interface AgentOverrides {
  dataDir?: string;
  nats?: string;
  authority?: string;
  fleet?: string;
  id?: string;
  site?: string;
  tags?: string[];
  interfaces?: string[];
  health?: string;
  filter?: string;
  exportInterval?: string;
  exports?: string[];
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

/** A fleet name: one NATS subject token. */
const SUBJECT_TOKEN = /^[A-Za-z0-9_-]+$/;

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
    export: z.array(z.string().min(1)).optional(),
    privacy: z
      .object({
        policy: z.string().min(1).optional(),
        authority: z.string().min(1).optional(),
        key_file: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    fleet: z
      .object({
        nats: z.string().min(1).optional(),
        authority: z.string().min(1).optional(),
        name: z.string().regex(SUBJECT_TOKEN, 'expected a name of letters, digits, - and _').optional(),
        id: z.string().min(1).optional(),
        // Sites and tags name NATS subjects and queue groups: two names that differ only in a dot would share them.
        site: z.string().regex(SUBJECT_TOKEN, 'expected a name of letters, digits, - and _').optional(),
        tags: z.array(z.string().regex(SUBJECT_TOKEN, 'expected a name of letters, digits, - and _')).optional(),
        tls: z.object({ ca: z.string().min(1).optional(), cert: z.string().min(1).optional(), key: z.string().min(1).optional() }).strict().optional(),
      })
      .strict()
      .optional(),
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
    const read = yamlValue(document);
    if ('error' in read) throw new ConfigError([`${file}: ${read.error}`]);
    raw = read.value ?? {};
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError([`${file}: expected a mapping of settings at the top level`]);
  }
  const parsed = FILE_SCHEMA.safeParse(raw);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${label}: ${describeIssue(issue, 'setting', 'docs/agent.md')}`);
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
  const fleet = fleetConfig(c.fleet, overrides, label, problems);
  const exports = overrides.exports && overrides.exports.length > 0 ? overrides.exports : (c.export ?? []);
  for (const target of exports) {
    try {
      parseExportTarget(target);
    } catch (error) {
      problems.push(`${overrides.exports && overrides.exports.length > 0 ? '--export' : `${label}: export`}: ${(error as Error).message}`);
    }
  }
  const privacy = privacyConfig(c.privacy, label, problems);
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
    fleet,
    export: exports,
    privacy,
  };
}

/**
 * The privacy section with its files read. The pseudonymisation key file is made (32 random bytes
 * as hex, mode 0600) when it does not exist yet: deploy the same file to every host for pseudonyms
 * that agree across the fleet.
 */
function privacyConfig(section: z.infer<typeof FILE_SCHEMA>['privacy'], label: string, problems: string[]): AgentConfig['privacy'] {
  const read = (file: string | undefined, what: string): string | null => {
    if (file === undefined) return null;
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      problems.push(`${label}: privacy.${what}: cannot read ${file}: ${(error as Error).message}`);
      return null;
    }
  };
  let keyHex: string | null = null;
  if (section?.key_file !== undefined) {
    const file = section.key_file;
    try {
      if (!existsSync(file)) {
        mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
      }
      const text = readFileSync(file, 'utf8').trim();
      if (/^[0-9a-f]{32,128}$/i.test(text) && text.length % 2 === 0) keyHex = text.toLowerCase();
      else problems.push(`${label}: privacy.key_file: ${file} must hold 32 to 64 bytes as hex digits (delete it to have a new one made)`);
    } catch (error) {
      problems.push(`${label}: privacy.key_file: ${(error as Error).message}`);
    }
  }
  return { policyText: read(section?.policy, 'policy'), authorityPem: read(section?.authority, 'authority'), keyHex };
}

type FleetSection = z.infer<typeof FILE_SCHEMA>['fleet'];

/** The fleet settings with the command line's winning; key files read now. Problems go to `problems`. */
function fleetConfig(section: FleetSection | undefined, overrides: AgentOverrides, label: string, problems: string[]): FleetConfig | null {
  const nats = overrides.nats ?? section?.nats;
  const authority = overrides.authority ?? section?.authority;
  if (nats === undefined) {
    if (authority !== undefined) problems.push(`${label}: fleet.authority: given without fleet.nats (--nats): fleet queries need both`);
    return null;
  }
  if (authority === undefined) {
    problems.push(`${label}: fleet.nats: given without fleet.authority (--authority FILE): the agent answers only queries signed by the authority`);
    return null;
  }
  const read = (file: string, what: string): string | null => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      problems.push(`${label}: ${what}: cannot read ${file}: ${(error as Error).message}`);
      return null;
    }
  };
  const name = overrides.fleet ?? section?.name ?? 'endsight';
  if (!SUBJECT_TOKEN.test(name)) problems.push(`--fleet: expected a name of letters, digits, - and _ (got ${JSON.stringify(name)})`);
  if (overrides.site !== undefined && !SUBJECT_TOKEN.test(overrides.site)) problems.push(`--site: expected a name of letters, digits, - and _ (got ${JSON.stringify(overrides.site)})`);
  for (const tag of overrides.tags ?? []) if (!SUBJECT_TOKEN.test(tag)) problems.push(`--tag: expected a name of letters, digits, - and _ (got ${JSON.stringify(tag)})`);
  const tls = section?.tls;
  return {
    nats,
    authorityPem: read(authority, 'fleet.authority') ?? '',
    name,
    id: overrides.id ?? section?.id ?? os.hostname(),
    site: overrides.site ?? section?.site ?? null,
    tags: overrides.tags && overrides.tags.length > 0 ? overrides.tags : (section?.tags ?? []),
    tls: tls
      ? { ca: tls.ca ? read(tls.ca, 'fleet.tls.ca') : null, cert: tls.cert ? read(tls.cert, 'fleet.tls.cert') : null, key: tls.key ? read(tls.key, 'fleet.tls.key') : null }
      : null,
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
