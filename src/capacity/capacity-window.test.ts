/** The window in whole steps, and applications as the command line names them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stepWindow, STEP_ORIGIN_US } from './capacity-window.js';
import { parseApplication } from './application-spec.js';

test('the window is cut to whole steps on the UTC boundaries', () => {
  const now = Date.UTC(2026, 11, 2, 16, 10, 30);
  const hourly = stepWindow({ since: '1d', step: '1h' }, now);
  // From 2026-12-01T16:10:30 to 2026-12-02T16:10:30: the hours 17:00 to 16:00, 23 whole ones.
  assert.equal(hourly.startUs, Date.UTC(2026, 11, 1, 17) * 1000);
  assert.equal(hourly.endUs, Date.UTC(2026, 11, 2, 16) * 1000);
  assert.equal(hourly.steps, 23);
  const fine = stepWindow({ between: '2026-12-01T00:03Z/2026-12-01T01:00Z', step: '5m' });
  assert.equal(fine.startUs, Date.UTC(2026, 11, 1, 0, 5) * 1000);
  assert.equal(fine.steps, 11);
  // Weeks start on Mondays (2000-01-03 was one): 2026-11-30 is.
  const weekly = stepWindow({ between: '2026-11-25T00:00Z/2026-12-15T00:00Z', step: '1w' });
  assert.equal(weekly.startUs, Date.UTC(2026, 10, 30) * 1000);
  assert.equal(new Date(weekly.startUs / 1000).getUTCDay(), 1);
  assert.equal((weekly.startUs - STEP_ORIGIN_US) % (7 * 86_400e6), 0);
  assert.equal(weekly.steps, 2);
  assert.equal(stepWindow({ step: '1h' }, now).steps, 4 * 7 * 24 - 1, 'the default window is 4w');
  assert.throws(() => stepWindow({ between: '2026-12-01T00:10Z/2026-12-01T00:50Z', step: '1h' }), /less than one whole --step/);
  assert.throws(() => stepWindow({ between: '/2026-12-01T00:00Z', step: '1h' }), /needs a start/);
  assert.throws(() => stepWindow({ since: '1d', step: '0.5s' }), /whole number of seconds/);
});

test('applications: the protocol and the lower port, as APPLICATION_SQL writes them', () => {
  assert.deepEqual(parseApplication('TCP/443'), { name: 'tcp/443', protocol: 6, port: 443, condition: '(proto = 6 AND least(src_port, dst_port) = 443)' });
  assert.equal(parseApplication('udp/053').name, 'udp/53');
  assert.equal(parseApplication('icmpv6').condition, 'proto = 58');
  assert.equal(parseApplication('ip47').name, 'ip47');
  // APPLICATION_SQL names TCP itself, so ip6 is not a name it writes.
  for (const bad of ['ip6', 'tcp', 'tcp/65536', 'http', 'tcp/443/1', 'ip256', '']) assert.throws(() => parseApplication(bad), /Cannot read --app/, bad);
});
