/**
 * Compiles an nfdump-like filter expression into a SQL condition over `flows`, once, so that a bad
 * filter is rejected before any data is read and matching cannot fail at scan time.
 *
 *   expr    := term (("and" | "&&") term | ("or" | "||") term)*      "and" binds tighter than "or"
 *   term    := ("not" | "!") term | "(" expr ")" | primitive
 *   primitive:
 *     proto tcp|udp|icmp|icmp6|esp|gre|sctp|N     also bare: tcp, udp, icmp, icmp6
 *     [src|dst] host|ip ADDR                       [src|dst] net CIDR     [src|dst] port [OP] N
 *     packets|bytes|duration [OP] N[k|m|g]         (duration in ms)       flags SAFRPU…
 *     process|user|container|iface|source|host-id|end-reason|direction NAME
 *     pid|uid [OP] N
 *   OP      := = == != > < >= <=                   (default =)
 */
import { parseAddress } from '../decode/index.js';
import { sqlString } from '../common/sql-string.js';

const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, icmp6: 58, sctp: 132 };
const TCP_FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80 };
const TEXT_FIELDS: Record<string, string> = {
  process: 'process', user: 'username', container: 'container', iface: 'interface', source: 'source',
  'host-id': 'host', 'end-reason': 'end_reason', direction: 'direction',
};
const OPERATORS = new Set(['=', '==', '!=', '>', '<', '>=', '<=']);

/** A filter that does not parse; the message names the position and what was expected. */
export class FilterError extends Error {
  override readonly name = 'FilterError';
}

/** Returns a SQL boolean expression equivalent to `filter` (an empty filter is `true`). */
export function compileFlowFilter(filter: string): string {
  const tokens = tokenize(filter);
  if (tokens.length === 0) return 'true';
  const parser = new Parser(filter, tokens);
  const sql = parser.expression();
  if (!parser.done()) parser.fail('"and", "or" or the end of the filter');
  return sql;
}

interface Token {
  text: string;
  at: number;
}

function tokenize(filter: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s*(\(|\)|&&|\|\||!=|>=|<=|==|=|>|<|!|[^\s()!=<>]+)/y;
  let match: RegExpExecArray | null;
  while (pattern.lastIndex < filter.length && (match = pattern.exec(filter)) !== null) {
    if (match[1] === undefined) break;
    tokens.push({ text: match[1], at: match.index + match[0].length - match[1].length });
  }
  return tokens;
}

class Parser {
  private position = 0;
  constructor(
    private readonly source: string,
    private readonly tokens: Token[],
  ) {}

  done(): boolean {
    return this.position >= this.tokens.length;
  }

  fail(expected: string): never {
    const token = this.tokens[this.position];
    const found = token ? `${JSON.stringify(token.text)} at position ${token.at + 1}` : 'the end of the filter';
    throw new FilterError(`Cannot parse filter ${JSON.stringify(this.source)}: expected ${expected}, found ${found}`);
  }

  expression(): string {
    const alternatives = [this.conjunction()];
    while (this.accept('or', '||')) alternatives.push(this.conjunction());
    return alternatives.length === 1 ? alternatives[0] : `(${alternatives.join(' OR ')})`;
  }

  private conjunction(): string {
    const terms = [this.term()];
    while (this.accept('and', '&&')) terms.push(this.term());
    return terms.length === 1 ? terms[0] : `(${terms.join(' AND ')})`;
  }

  private term(): string {
    if (this.accept('not', '!')) return `(NOT ${this.term()})`;
    if (this.accept('(')) {
      const inner = this.expression();
      if (!this.accept(')')) this.fail('")"');
      return inner;
    }
    return this.primitive();
  }

  private primitive(): string {
    const word = this.next('a filter term such as "proto tcp", "host 10.0.0.1" or "port 443"').toLowerCase();
    if (word in PROTOCOLS && word !== 'ah' && word !== 'gre' && word !== 'esp' && word !== 'sctp') return `proto = ${PROTOCOLS[word]}`;
    if (word === 'proto') return `proto = ${this.protocol()}`;
    if (word === 'src' || word === 'dst') {
      const what = this.next('"host", "ip", "net" or "port"').toLowerCase();
      return this.endpoint(what, [word === 'src' ? 'src' : 'dst']);
    }
    if (word === 'host' || word === 'ip' || word === 'net' || word === 'port') {
      this.position--;
      return this.endpoint(this.next('').toLowerCase(), ['src', 'dst']);
    }
    if (word === 'packets' || word === 'bytes') return `${word} ${this.operator()} ${this.number(true)}`;
    if (word === 'duration') return `epoch_us(end_time) - epoch_us(start_time) ${this.operator()} ${this.number(true) * 1000}`;
    // pid, uid and the text fields are NULL when unknown; coalesce keeps `not` meaning "all the others".
    if (word === 'pid' || word === 'uid') return `coalesce(${word} ${this.operator()} ${this.number(false)}, false)`;
    if (word === 'flags') return this.flags();
    if (word in TEXT_FIELDS) {
      const value = this.next(`a value after "${word}"`);
      // Control characters cannot be in a process, user or interface name, nor in a SQL literal (NUL).
      if (/[\u0000-\u001f\u007f]/.test(value)) this.failAt(`${JSON.stringify(value)} contains a control character`);
      return `${TEXT_FIELDS[word]} IS NOT DISTINCT FROM ${sqlString(value)}`;
    }
    this.position--;
    this.fail('a filter term such as "proto tcp", "host 10.0.0.1", "net 10.0.0.0/8", "port 443" or "bytes > 1M"');
  }

  private endpoint(what: string, sides: string[]): string {
    const either = (make: (side: string) => string): string =>
      sides.length === 1 ? make(sides[0]) : `(${sides.map(make).join(' OR ')})`;
    if (what === 'host' || what === 'ip') {
      const text = this.next('an IP address');
      const parsed = parseAddress(text);
      if (parsed === null) this.failAt(`${JSON.stringify(text)} is not an IPv4 or IPv6 address`);
      const canonical = sqlString(text.toLowerCase());
      // Compare by bytes so that any spelling of an IPv6 address matches the stored RFC 5952 form.
      return either((side) => `ip_hex(${side}_addr) = ip_hex(${canonical})`);
    }
    if (what === 'net') {
      const text = this.next('a CIDR prefix such as 10.0.0.0/8');
      const match = /^([^/]+)\/(\d{1,3})$/.exec(text);
      const parsed = match ? parseAddress(match[1]) : null;
      const bits = match ? Number(match[2]) : NaN;
      if (parsed === null || !(bits <= (parsed.ipVersion === 4 ? 32 : 128))) {
        this.failAt(`${JSON.stringify(text)} is not a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32`);
      }
      return either((side) => `in_cidr(${side}_addr, ${sqlString(text)})`);
    }
    if (what === 'port') {
      const op = this.operator();
      const port = this.number(false);
      if (port > 65535) this.failAt(`port ${port} is out of range 0-65535`);
      return either((side) => `${side}_port ${op} ${port}`);
    }
    this.position--;
    this.fail('"host", "ip", "net" or "port"');
  }

  private protocol(): number {
    const text = this.next('a protocol name or number').toLowerCase();
    if (text in PROTOCOLS) return PROTOCOLS[text];
    const n = Number(text);
    if (!/^\d{1,3}$/.test(text) || n > 255) this.failAt(`${JSON.stringify(text)} is not a protocol (tcp, udp, icmp, icmp6, esp, gre, sctp or 0-255)`);
    return n;
  }

  private flags(): string {
    const text = this.next('TCP flags such as S, SA or FR').toUpperCase();
    let mask = 0;
    for (const letter of text) {
      const bit = TCP_FLAG_BITS[letter];
      if (bit === undefined) this.failAt(`${JSON.stringify(letter)} is not a TCP flag (F S R P A U E C)`);
      mask |= bit;
    }
    return `(tcp_flags & ${mask}) = ${mask}`;
  }

  private operator(): string {
    const token = this.tokens[this.position];
    if (token && OPERATORS.has(token.text)) {
      this.position++;
      return token.text === '==' ? '=' : token.text;
    }
    return '=';
  }

  private number(allowSuffix: boolean): number {
    const text = this.next('a number');
    const match = /^(\d+(?:\.\d+)?)([kmg]?)$/i.exec(text);
    if (!match || (!allowSuffix && match[2] !== '') || (!allowSuffix && match[1].includes('.'))) {
      this.failAt(`${JSON.stringify(text)} is not a ${allowSuffix ? 'number (suffixes k, M, G allowed)' : 'whole number'}`);
    }
    const scale = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[match[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
    const value = Math.round(Number(match[1]) * scale);
    if (!Number.isSafeInteger(value)) this.failAt(`${JSON.stringify(text)} is too large (at most ${Number.MAX_SAFE_INTEGER})`);
    return value;
  }

  private next(expected: string): string {
    const token = this.tokens[this.position];
    if (!token) this.fail(expected);
    this.position++;
    return token.text;
  }

  private accept(...words: string[]): boolean {
    const token = this.tokens[this.position];
    if (token && words.includes(token.text.toLowerCase())) {
      this.position++;
      return true;
    }
    return false;
  }

  private failAt(problem: string): never {
    const token = this.tokens[this.position - 1];
    throw new FilterError(`Cannot parse filter ${JSON.stringify(this.source)}: ${problem} (position ${token.at + 1})`);
  }
}
