/**
 * Applies a host's privacy policy to finished flow records, before anything stores, exports or
 * answers them (PRODUCT.md: "privacy policy ... before anything touches disk"). The output is a new
 * batch with a dictionary of its own, so a dropped or replaced value is not even among the strings
 * that travel on to the store.
 *
 * - Drop rules see the records as metered (full addresses, real names).
 * - `remove`: the field is stored as NULL.
 * - `pseudonymise`: HMAC-SHA256 under the host's key (RFC 2104), keyed per kind of value, written as
 *   `~` and 16 hex digits: the same user or address gets the same pseudonym wherever the key is the
 *   same, so counts and joins still work, and without the key a guess cannot be checked. Without a
 *   key the field is removed instead (never stored in the clear).
 * - `truncate`: an address keeps its first N bits (10.1.2.3 with ipv4: 24 is stored as 10.1.2.0).
 * - local_addr / remote_addr name the host's own end or the other one by the record's direction:
 *   out: source local; in: destination local; local: both ends local; transit and unknown: both remote.
 */
import { createHmac } from 'node:crypto';
import { formatAddress } from '../decode/index.js';
import { FlowRecordBatch, NUMBER_COLUMNS, STRING_COLUMNS, type StringColumn } from '../flow/flow-record-batch.js';
import { maskWords, parseCidr, samePrefix } from '../decode/prefix.js';
import { parsePortRange, type AddressField, type DropRule, type HostPolicy, type TextField, type Truncation } from './privacy-policy.js';

/** Text columns of the batch by policy field name (addresses apart). */
const TEXT_COLUMN: Record<Exclude<TextField, AddressField>, StringColumn> = {
  username: 'username', process: 'process', command: 'command', container: 'container', interface: 'interfaceName', tunnel: 'tunnel',
};

type AddressFate = { kind: 'keep' } | { kind: 'remove' } | { kind: 'pseudonymise' } | { kind: 'truncate'; to: Truncation };

export interface FilterCounters {
  /** Records the drop rules removed. */
  dropped: number;
  /** Records passed on (with their fields transformed). */
  kept: number;
}

export class RecordFilter {
  readonly counters: FilterCounters = { dropped: 0, kept: 0 };
  private readonly rules: CompiledRule[];
  private readonly textFates = new Map<StringColumn, 'remove' | 'pseudonymise'>();
  /** src and dst fates, for the local end and the remote end of a flow. */
  private readonly addressFate: { local: AddressFate; remote: AddressFate; src: AddressFate; dst: AddressFate };
  private readonly removePid: boolean;
  private readonly removeUid: boolean;
  /** Whether anything is transformed at all (else records are copied through as they are). */
  readonly transforms: boolean;

  constructor(
    readonly policy: HostPolicy,
    /** The pseudonymisation key; null: pseudonymised fields are removed. */
    private readonly key: Buffer | null,
  ) {
    this.rules = policy.drop.map(compileRule);
    const fate = (field: AddressField): AddressFate => {
      if (policy.remove.includes(field)) return { kind: 'remove' };
      if (policy.pseudonymise.includes(field)) return key ? { kind: 'pseudonymise' } : { kind: 'remove' };
      const to = policy.truncate[field];
      return to ? { kind: 'truncate', to } : { kind: 'keep' };
    };
    this.addressFate = { local: fate('local_addr'), remote: fate('remote_addr'), src: fate('src_addr'), dst: fate('dst_addr') };
    for (const [field, column] of Object.entries(TEXT_COLUMN) as [Exclude<TextField, AddressField>, StringColumn][]) {
      if (policy.remove.includes(field)) this.textFates.set(column, 'remove');
      else if (policy.pseudonymise.includes(field)) this.textFates.set(column, key ? 'pseudonymise' : 'remove');
    }
    this.removePid = policy.remove.includes('pid');
    this.removeUid = policy.remove.includes('uid');
    this.transforms = this.rules.length > 0 || policy.remove.length > 0 || policy.pseudonymise.length > 0 || Object.keys(policy.truncate).length > 0;
  }

  /** The records of `batch` the policy lets through, transformed; `batch` is not changed. */
  apply(batch: FlowRecordBatch): FlowRecordBatch {
    if (!this.transforms) {
      this.counters.kept += batch.length;
      return batch;
    }
    const view = new BatchView(batch);
    const out = new FlowRecordBatch(Math.max(1, batch.length));
    const remap = new Map<StringColumn, Int32Array>();
    const n = batch.numbers;
    const c = batch.codes;
    for (let i = 0; i < batch.length; i++) {
      if (this.rules.some((rule) => rule(view, i))) {
        this.counters.dropped++;
        continue;
      }
      const o = out.addRow();
      for (const column of NUMBER_COLUMNS) out.numbers[column][o] = n[column][i];
      if (this.removePid) out.numbers.pid[o] = NaN;
      if (this.removeUid) out.numbers.uid[o] = NaN;
      for (const column of STRING_COLUMNS) {
        if (column === 'srcAddr' || column === 'dstAddr') continue;
        const code = c[column][i];
        if (code < 0) {
          out.codes[column][o] = -1;
          continue;
        }
        let table = remap.get(column);
        if (!table) remap.set(column, (table = new Int32Array(batch.strings.values.length).fill(-2)));
        if (table[code] === -2) table[code] = this.textCode(column, batch.strings.values[code], out);
        out.codes[column][o] = table[code];
      }
      const direction = view.direction(i);
      const srcLocal = direction === 'out' || direction === 'local';
      const dstLocal = direction === 'in' || direction === 'local';
      this.address(view, i, 'src', srcLocal, out, o);
      this.address(view, i, 'dst', dstLocal, out, o);
      this.counters.kept++;
    }
    return out;
  }

  private textCode(column: StringColumn, value: string, out: FlowRecordBatch): number {
    const fate = this.textFates.get(column);
    if (fate === 'remove') return -1;
    if (fate === 'pseudonymise') return out.strings.code(this.pseudonym(column, value));
    return out.strings.code(value);
  }

  /** Writes row i's src or dst address into out's row o, by the strictest fate that applies to it. */
  private address(view: BatchView, i: number, end: 'src' | 'dst', isLocal: boolean, out: FlowRecordBatch, o: number): void {
    const fate = strictest(this.addressFate[end], isLocal ? this.addressFate.local : this.addressFate.remote);
    const codeColumn = end === 'src' ? 'srcAddr' : 'dstAddr';
    const numberColumn = end === 'src' ? 'srcIpv4' : 'dstIpv4';
    const code = view.batch.codes[codeColumn][i];
    const ipv4 = view.batch.numbers[numberColumn][i];
    out.numbers[numberColumn][o] = NaN;
    out.codes[codeColumn][o] = -1;
    if (fate.kind === 'remove') return;
    if (fate.kind === 'keep') {
      if (code >= 0) out.codes[codeColumn][o] = out.strings.code(view.batch.strings.values[code]);
      else out.numbers[numberColumn][o] = ipv4;
      return;
    }
    const address = view.address(end, i);
    if (address === null) return; // not an address (cannot happen for metered records): nothing is safer than a guess
    if (fate.kind === 'pseudonymise') {
      out.codes[codeColumn][o] = out.strings.code(this.pseudonym('addr', formatAddress(address.words, address.ipVersion)));
      return;
    }
    const bits = address.ipVersion === 4 ? fate.to.ipv4 : fate.to.ipv6;
    const words = maskWords(address.words, bits);
    if (address.ipVersion === 4) out.numbers[numberColumn][o] = words[0];
    else out.codes[codeColumn][o] = out.strings.code(formatAddress(words, 6));
  }

  private pseudonym(kind: string, value: string): string {
    return '~' + createHmac('sha256', this.key!).update(kind).update('\0').update(value).digest('hex').slice(0, 16);
  }
}

/** The fate that keeps the least of two. */
function strictest(a: AddressFate, b: AddressFate): AddressFate {
  const rank = (f: AddressFate): number => (f.kind === 'remove' ? 3 : f.kind === 'pseudonymise' ? 2 : f.kind === 'truncate' ? 1 : 0);
  if (rank(a) !== rank(b)) return rank(a) > rank(b) ? a : b;
  if (a.kind === 'truncate' && b.kind === 'truncate') return { kind: 'truncate', to: { ipv4: Math.min(a.to.ipv4, b.to.ipv4), ipv6: Math.min(a.to.ipv6, b.to.ipv6) } };
  return a;
}

/** A batch's rows as drop rules read them, with per-code caches (a batch repeats its strings). */
class BatchView {
  private readonly parsed = new Map<number, { ipVersion: 4 | 6; words: Uint32Array } | null>();
  private readonly ipv4Words = new Uint32Array(4);

  constructor(readonly batch: FlowRecordBatch) {}

  text(column: StringColumn, i: number): string | null {
    return this.batch.strings.value(this.batch.codes[column][i]);
  }

  direction(i: number): string | null {
    return this.text('direction', i);
  }

  /** Row i's address at `end` as words; for IPv4 numbers, a scratch array valid until the next call. */
  address(end: 'src' | 'dst', i: number): { ipVersion: 4 | 6; words: Uint32Array } | null {
    const code = this.batch.codes[end === 'src' ? 'srcAddr' : 'dstAddr'][i];
    if (code < 0) {
      const n = this.batch.numbers[end === 'src' ? 'srcIpv4' : 'dstIpv4'][i];
      if (Number.isNaN(n)) return null;
      this.ipv4Words[0] = n;
      return { ipVersion: 4, words: this.ipv4Words };
    }
    let parsed = this.parsed.get(code);
    if (parsed === undefined) {
      parsed = parseCidr(this.batch.strings.values[code]);
      this.parsed.set(code, parsed);
    }
    return parsed;
  }
}

type CompiledRule = (view: BatchView, i: number) => boolean;

/** A rule as one function over a row: each condition it has must hold. */
function compileRule(rule: DropRule): CompiledRule {
  const tests: CompiledRule[] = [];
  const prefixes = (list: string[]) => list.map((text) => parseCidr(text)!);
  const inAny = (list: ReturnType<typeof prefixes>, end: 'src' | 'dst') => (view: BatchView, i: number) => {
    const address = view.address(end, i);
    return address !== null && list.some((p) => p.ipVersion === address.ipVersion && samePrefix(p.words, address.words, p.bits));
  };
  if (rule.addr) {
    const list = prefixes(rule.addr);
    const src = inAny(list, 'src');
    const dst = inAny(list, 'dst');
    tests.push((v, i) => src(v, i) || dst(v, i));
  }
  if (rule.src_addr) tests.push(inAny(prefixes(rule.src_addr), 'src'));
  if (rule.dst_addr) tests.push(inAny(prefixes(rule.dst_addr), 'dst'));
  const ranges = (list: string[]) => list.map((text) => parsePortRange(text)!);
  const portIn = (list: [number, number][], value: number): boolean => list.some(([low, high]) => value >= low && value <= high);
  // Ports mean ports only where the protocol has them (ICMP keeps type and code in dst_port).
  const hasPorts = (v: BatchView, i: number): boolean => [6, 17, 132].includes(v.batch.numbers.protocol[i]);
  if (rule.port) {
    const list = ranges(rule.port);
    tests.push((v, i) => hasPorts(v, i) && (portIn(list, v.batch.numbers.srcPort[i]) || portIn(list, v.batch.numbers.dstPort[i])));
  }
  if (rule.src_port) {
    const list = ranges(rule.src_port);
    tests.push((v, i) => hasPorts(v, i) && portIn(list, v.batch.numbers.srcPort[i]));
  }
  if (rule.dst_port) {
    const list = ranges(rule.dst_port);
    tests.push((v, i) => hasPorts(v, i) && portIn(list, v.batch.numbers.dstPort[i]));
  }
  if (rule.proto !== undefined) {
    const proto = rule.proto;
    tests.push((v, i) => v.batch.numbers.protocol[i] === proto);
  }
  if (rule.app !== undefined) tests.push(appTest(rule.app));
  const globTest = (pattern: string, column: StringColumn): CompiledRule => {
    const regex = globRegex(pattern);
    return (v, i) => {
      const value = v.text(column, i);
      return value !== null && regex.test(value);
    };
  };
  if (rule.process !== undefined) tests.push(globTest(rule.process, 'process'));
  if (rule.user !== undefined) tests.push(globTest(rule.user, 'username'));
  if (rule.container !== undefined) tests.push(globTest(rule.container, 'container'));
  if (rule.interface !== undefined) tests.push(globTest(rule.interface, 'interfaceName'));
  if (rule.uid !== undefined) {
    const uid = rule.uid;
    tests.push((v, i) => v.batch.numbers.uid[i] === uid);
  }
  return (view, i) => tests.every((test) => test(view, i));
}

/** tcp/443, udp/53, icmp, icmpv6, ip50: as application-sql.ts names applications. */
function appTest(app: string): CompiledRule {
  const slash = app.indexOf('/');
  if (slash > 0) {
    const proto = { tcp: 6, udp: 17, sctp: 132 }[app.slice(0, slash) as 'tcp' | 'udp' | 'sctp'];
    const port = Number(app.slice(slash + 1));
    return (v, i) => v.batch.numbers.protocol[i] === proto && Math.min(v.batch.numbers.srcPort[i], v.batch.numbers.dstPort[i]) === port;
  }
  const proto = app === 'icmp' ? 1 : app === 'icmpv6' ? 58 : Number(app.slice(2));
  return (v, i) => v.batch.numbers.protocol[i] === proto;
}

/** A glob (`*` any characters, `?` one) as an anchored regular expression. */
export function globRegex(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 's');
}
