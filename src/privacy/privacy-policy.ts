/**
 * The privacy policy a host applies when it records flows (issue 9, "privacy policy at recording
 * time"; docs/privacy.md): which flows are never recorded (drop rules on endpoints, applications,
 * users), which fields are removed, pseudonymised with a keyed hash or truncated to a prefix, and the
 * smallest group an aggregate answer may describe. One document serves a whole fleet: `default` for
 * every host, and `hosts` sections (first match wins) for hosts that get another policy, such as
 * trusted servers.
 *
 * The document is written by people (YAML or JSON); every problem is reported at once, each naming
 * where it is and what was expected.
 */
import { z } from 'zod';
import { parseCidr } from '../decode/prefix.js';
import { targets, type HostIdentity } from '../fleet/signed-query.js';
import { describeIssue } from '../common/config-issue.js';

/** Text fields that can be removed or pseudonymised. */
export const TEXT_FIELDS = ['username', 'process', 'command', 'container', 'interface', 'tunnel', 'src_addr', 'dst_addr', 'local_addr', 'remote_addr'] as const;
/** Number fields, which can only be removed. */
export const NUMBER_FIELDS = ['pid', 'uid'] as const;
/** Address fields: src/dst as stored; local/remote by the flow's direction (out: the source is local). */
export const ADDRESS_FIELDS = ['src_addr', 'dst_addr', 'local_addr', 'remote_addr'] as const;

export type TextField = (typeof TEXT_FIELDS)[number];
export type NumberField = (typeof NUMBER_FIELDS)[number];
export type AddressField = (typeof ADDRESS_FIELDS)[number];

/** IP protocol names a rule may use instead of numbers. */
const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, icmpv6: 58, sctp: 132 };

/** One drop rule: every condition it has must hold (AND); a flow is dropped when any rule matches (OR). */
export interface DropRule {
  /** Either end in one of these prefixes. */
  addr?: string[];
  src_addr?: string[];
  dst_addr?: string[];
  /** Either port one of these (numbers or ranges such as 6000-6010). */
  port?: string[];
  src_port?: string[];
  dst_port?: string[];
  proto?: number;
  /** An application as the views name it: tcp/443 (the protocol and the lower port). */
  app?: string;
  /** Glob patterns (`*`, `?`) over the attributed process name, user name, container, interface. */
  process?: string;
  user?: string;
  uid?: number;
  container?: string;
  interface?: string;
}

/** Prefix lengths an address keeps: the rest of its bits are zero. */
export interface Truncation {
  ipv4: number;
  ipv6: number;
}

/** What one host applies. */
export interface HostPolicy {
  drop: DropRule[];
  remove: (TextField | NumberField)[];
  pseudonymise: TextField[];
  truncate: Partial<Record<AddressField, Truncation>>;
  /** Aggregate answers describe groups of at least this many flows; row answers are refused when above 1. */
  minGroupSize: number;
}

/** The whole document, as the authority signs it. */
export interface PolicyDocument {
  /** Grows with every new policy: a host never goes back to an older one. */
  version: number;
  default: HostPolicy;
  /** Other policies for some hosts: `target` as fleet queries name targets (host:ID, site:S, tag:T, net:CIDR). */
  hosts: { target: string; policy: HostPolicy }[];
}

export class PolicyError extends Error {
  override name = 'PolicyError';
  constructor(readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} problems in the privacy policy:\n  ${problems.join('\n  ')}`);
  }
}

/** No rules: what a host applies without a policy. */
export const OPEN_POLICY: HostPolicy = { drop: [], remove: [], pseudonymise: [], truncate: {}, minGroupSize: 1 };

const cidr = z.string().refine((text) => parseCidr(text) !== null, { message: 'expected an address or a prefix such as 10.1.0.0/16 or fd00::/8' });
const cidrs = cidr.or(z.array(cidr).min(1)).transform((v) => (Array.isArray(v) ? v : [v]));
const portRange = z
  .string()
  .or(z.number())
  .transform((v) => String(v))
  .refine((text) => parsePortRange(text) !== null, { message: 'expected a port (0 to 65535) or a range such as 6000-6010' });
const ports = portRange.or(z.array(portRange).min(1)).transform((v) => (Array.isArray(v) ? v : [v]));
const glob = z.string().min(1, 'expected a name or a glob pattern such as ssh*');
const protocol = z
  .string()
  .or(z.number())
  .transform((v, ctx) => {
    const n = typeof v === 'number' ? v : (PROTOCOLS[v.toLowerCase()] ?? (/^\d+$/.test(v) ? Number(v) : NaN));
    if (Number.isInteger(n) && n >= 0 && n <= 255) return n;
    ctx.addIssue({ code: 'custom', message: `expected a protocol number (0 to 255) or one of ${Object.keys(PROTOCOLS).join(', ')} (got ${JSON.stringify(v)})` });
    return z.NEVER;
  });

const RULE = z
  .object({
    addr: cidrs.optional(),
    src_addr: cidrs.optional(),
    dst_addr: cidrs.optional(),
    port: ports.optional(),
    src_port: ports.optional(),
    dst_port: ports.optional(),
    proto: protocol.optional(),
    app: z.string().regex(/^(tcp|udp|sctp)\/\d{1,5}$|^(icmp|icmpv6)$|^ip\d{1,3}$/, 'expected an application such as tcp/443, udp/53, icmp or ip50').optional(),
    process: glob.optional(),
    user: glob.optional(),
    uid: z.number().int().min(0).optional(),
    container: glob.optional(),
    interface: glob.optional(),
  })
  .strict()
  .refine((rule) => Object.keys(rule).length > 0, { message: 'a rule needs at least one condition (an empty rule would drop every flow)' });

const prefixLength = (max: number) => z.number().int(`expected a prefix length from 0 to ${max}`).min(0, `expected a prefix length from 0 to ${max}`).max(max, `expected a prefix length from 0 to ${max}`);
const TRUNCATION = z.object({ ipv4: prefixLength(32), ipv6: prefixLength(128) }).strict();

const HOST_POLICY = z
  .object({
    drop: z.array(RULE).optional(),
    remove: z.array(z.enum([...TEXT_FIELDS, ...NUMBER_FIELDS], { error: `expected one of ${[...TEXT_FIELDS, ...NUMBER_FIELDS].join(', ')}` })).optional(),
    pseudonymise: z.array(z.enum(TEXT_FIELDS, { error: `expected one of ${TEXT_FIELDS.join(', ')} (pid and uid can only be removed)` })).optional(),
    truncate: z.partialRecord(z.enum(ADDRESS_FIELDS, { error: `expected one of ${ADDRESS_FIELDS.join(', ')}` }), TRUNCATION).optional(),
    min_group_size: z.number().int('expected a whole number of at least 1').min(1, 'expected a whole number of at least 1').max(1_000_000, 'expected at most 1000000').optional(),
  })
  .strict();

const DOCUMENT = z
  .object({
    version: z.number({ error: 'expected a whole number from 1 up, higher than the policy it replaces' }).int('expected a whole number').min(1, 'expected a whole number from 1 up'),
    default: HOST_POLICY.optional(),
    hosts: z.array(z.object({ target: z.string().regex(/^(all|host:.+|site:.+|tag:.+|net:.+)$/, 'expected all, host:ID, site:NAME, tag:T or net:CIDR'), policy: HOST_POLICY }).strict()).optional(),
  })
  .strict();

/** Checks a policy document (parsed YAML or JSON); throws PolicyError listing every problem, each prefixed by `label`. */
export function parsePolicyDocument(value: unknown, label: string): PolicyDocument {
  const parsed = DOCUMENT.safeParse(value);
  if (!parsed.success) {
    throw new PolicyError(
      parsed.error.issues.map((issue) => `${label}: ${describeIssue(issue, 'key', 'docs/privacy.md')}`),
    );
  }
  const problems: string[] = [];
  const hostPolicy = (p: z.infer<typeof HOST_POLICY> | undefined, where: string): HostPolicy => {
    const policy: HostPolicy = {
      drop: (p?.drop ?? []) as DropRule[],
      remove: p?.remove ?? [],
      pseudonymise: p?.pseudonymise ?? [],
      truncate: p?.truncate ?? {},
      minGroupSize: p?.min_group_size ?? 1,
    };
    // A field has one fate: removed, pseudonymised or truncated.
    const fates = new Map<string, string>();
    for (const [fate, fields] of [['remove', policy.remove], ['pseudonymise', policy.pseudonymise], ['truncate', Object.keys(policy.truncate)]] as const) {
      for (const field of fields) {
        const before = fates.get(field);
        if (before !== undefined) problems.push(`${label}: ${where}: ${field} is both in ${before} and in ${fate}; give it one`);
        fates.set(field, fate);
      }
    }
    return policy;
  };
  const document: PolicyDocument = {
    version: parsed.data.version,
    default: hostPolicy(parsed.data.default, 'default'),
    hosts: (parsed.data.hosts ?? []).map((section, i) => ({ target: section.target, policy: hostPolicy(section.policy, `hosts.${i}.policy`) })),
  };
  if (problems.length > 0) throw new PolicyError(problems);
  return document;
}

/** The policy `document` gives the host: its first matching `hosts` section, or the default. */
export function policyFor(document: PolicyDocument, host: HostIdentity): { policy: HostPolicy; section: string } {
  const section = document.hosts.find((entry) => targets(entry.target, host));
  return section ? { policy: section.policy, section: section.target } : { policy: document.default, section: 'default' };
}

/** `443` or `6000-6010` as an inclusive range; null when malformed. */
export function parsePortRange(text: string): [number, number] | null {
  const match = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(text);
  if (!match) return null;
  const low = Number(match[1]);
  const high = match[2] === undefined ? low : Number(match[2]);
  return low <= high && high <= 65535 ? [low, high] : null;
}
