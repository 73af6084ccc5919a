import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileFlowFilter } from './flow-filter.js';

test('compileFlowFilter compiles each kind of term', () => {
  assert.equal(compileFlowFilter(''), 'true');
  assert.equal(compileFlowFilter('proto tcp'), 'proto = 6');
  assert.equal(compileFlowFilter('udp'), 'proto = 17');
  assert.equal(compileFlowFilter('proto 47'), 'proto = 47');
  assert.equal(compileFlowFilter('dst port 443'), 'dst_port = 443');
  assert.equal(compileFlowFilter('port > 1023'), '(src_port > 1023 OR dst_port > 1023)');
  assert.equal(compileFlowFilter('src net 10.0.0.0/8'), "in_cidr(src_addr, '10.0.0.0/8')");
  assert.equal(compileFlowFilter('host 2001:db8::1'), "(ip_hex(src_addr) = ip_hex('2001:db8::1') OR ip_hex(dst_addr) = ip_hex('2001:db8::1'))");
  assert.equal(compileFlowFilter('bytes > 1.5M'), 'bytes > 1500000');
  assert.equal(compileFlowFilter('duration >= 2k'), 'epoch_us(end_time) - epoch_us(start_time) >= 2000000');
  assert.equal(compileFlowFilter('flags SA'), '(tcp_flags & 18) = 18');
  assert.equal(compileFlowFilter("process o'neil"), "process IS NOT DISTINCT FROM 'o''neil'");
  assert.equal(compileFlowFilter('not pid > 100'), '(NOT coalesce(pid > 100, false))');
});

test('compileFlowFilter: and binds tighter than or; not and parentheses', () => {
  assert.equal(compileFlowFilter('tcp or udp and port 53'), '(proto = 6 OR (proto = 17 AND (src_port = 53 OR dst_port = 53)))');
  assert.equal(compileFlowFilter('(tcp or udp) and not port 53'), '((proto = 6 OR proto = 17) AND (NOT (src_port = 53 OR dst_port = 53)))');
  assert.equal(compileFlowFilter('!icmp && bytes<100'), '((NOT proto = 1) AND bytes < 100)');
});

test('compileFlowFilter rejects bad filters with one line naming the problem', () => {
  const cases: [string, RegExp][] = [
    ['port', /expected a number, found the end of the filter/],
    ['port http', /"http" is not a whole number/],
    ['port 70000', /port 70000 is out of range/],
    ['net 10.0.0.0/40', /"10.0.0.0\/40" is not a CIDR prefix/],
    ['host 300.1.1.1', /"300.1.1.1" is not an IPv4 or IPv6 address/],
    ['tcp udp', /expected "and", "or" or the end of the filter, found "udp" at position 5/],
    ['(tcp', /expected "\)"/],
    ['banana', /expected a filter term/],
    ['proto 256', /not a protocol/],
    ['flags X', /"X" is not a TCP flag/],
    ["process a' OR 1=1 --", /expected a filter term/], // the value is quoted: no way into the SQL
  ];
  for (const [filter, message] of cases) {
    assert.throws(() => compileFlowFilter(filter), (e: Error) => e.name === 'FilterError' && message.test(e.message) && !e.message.includes('\n'), filter);
  }
});
