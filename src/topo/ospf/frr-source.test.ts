/**
 * FRR's database listings (frr-source.ts): the LSAs of each listing read as FRR printed them, the
 * union of two vantage points kept at the newest instance, and 5,000 damaged listings counted and
 * skipped, never a throw. (The test against live FRR routers is test/topo/ospf-frr.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRandom } from '../../decode/build-packet.js';
import { readFrrDatabase } from './frr-source.js';
import { AS_SCOPE } from './lsdb.js';
import { computeRoutes } from './spf.js';

// As FRR 8.4 prints them (the field names, FRR's typo "attchedRouters" included).
const ROUTER = {
  routerId: '0.0.0.1',
  routerLinkStates: {
    areas: {
      '0.0.0.0': [
        {
          lsaAge: 10, flags: 0, lsaType: 'router-LSA', linkStateId: '0.0.0.1', advertisingRouter: '0.0.0.1', lsaSeqNumber: '80000004', checksum: '17ef', length: 48,
          routerLinks: {
            link0: { linkType: 'a Transit Network', designatedRouterAddress: '10.0.0.2', routerInterfaceAddress: '10.0.0.1', tos0Metric: 10 },
            link1: { linkType: 'Stub Network', networkAddress: '10.9.0.0', networkMask: '255.255.255.0', tos0Metric: 10 },
          },
        },
        {
          lsaAge: 11, flags: 2, lsaType: 'router-LSA', linkStateId: '0.0.0.2', advertisingRouter: '0.0.0.2', lsaSeqNumber: '80000003', checksum: 'b867', length: 36,
          routerLinks: { link0: { linkType: 'a Transit Network', designatedRouterAddress: '10.0.0.2', routerInterfaceAddress: '10.0.0.2', tos0Metric: 10 } },
        },
      ],
    },
  },
};
const NETWORK = {
  networkLinkStates: {
    areas: { '0.0.0.0': [{ lsaAge: 3, linkStateId: '10.0.0.2', advertisingRouter: '0.0.0.2', lsaSeqNumber: '80000001', checksum: '3505', networkMask: 24, attchedRouters: { '0.0.0.1': {}, '0.0.0.2': {} } }] },
  },
};
const EXTERNAL = {
  asExternalLinkStates: [
    { lsaAge: 17, linkStateId: '198.51.100.0', advertisingRouter: '0.0.0.2', lsaSeqNumber: '80000001', checksum: 'b8a1', networkMask: 24, metricType: 'E2 (Larger than any link state path)', metric: 20, forwardAddress: '0.0.0.0', externalRouteTag: 0 },
  ],
};

test("FRR's listings make the database, and its routes", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-frr-'));
  try {
    mkdirSync(path.join(dir, 'r1'));
    mkdirSync(path.join(dir, 'r2'));
    writeFileSync(path.join(dir, 'r1', 'router.json'), JSON.stringify(ROUTER));
    writeFileSync(path.join(dir, 'r1', 'network.json'), JSON.stringify(NETWORK));
    writeFileSync(path.join(dir, 'r2', 'external.json'), JSON.stringify(EXTERNAL));
    // An older instance of 0.0.0.1's LSA, as another vantage point may still list it.
    const older = structuredClone(ROUTER);
    older.routerLinkStates.areas['0.0.0.0'][0].lsaSeqNumber = '80000003';
    writeFileSync(path.join(dir, 'r2', 'router.json'), JSON.stringify(older));
    const frr = await readFrrDatabase(dir, 0);
    assert.equal(frr.files, 4);
    assert.deepEqual(frr.issues.toJSON(), {});
    const area = frr.lsdb.lsas('0.0.0.0', 0);
    assert.equal(area.length, 3);
    assert.equal(area.find((l) => l.header.advertisingRouter === '0.0.0.1')!.header.sequence >>> 0, 0x80000004, 'the newest instance is kept');
    assert.equal(frr.lsdb.lsas(AS_SCOPE, 0).length, 1);
    const routes = computeRoutes(frr.lsdb, '0.0.0.1', 0);
    assert.deepEqual(routes.networks.map((r) => `${r.prefix} ${r.pathType} ${r.cost}`), ['10.0.0.0/24 intra-area 10', '10.9.0.0/24 intra-area 10', '198.51.100.0/24 external-2 10']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('5,000 damaged listings: counted and skipped, never a throw', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-frr-fuzz-'));
  const random = createRandom(5);
  const texts = [JSON.stringify(ROUTER), JSON.stringify(NETWORK), JSON.stringify(EXTERNAL)];
  try {
    for (let i = 0; i < 5000; i++) {
      let text = texts[i % 3];
      if (i % 2 === 0) {
        // Damage the text: cut it, or change characters.
        const chars = [...text];
        for (let n = 1 + Math.floor(random() * 5); n > 0; n--) chars[Math.floor(random() * chars.length)] = String.fromCharCode(32 + Math.floor(random() * 95));
        text = random() < 0.3 ? chars.join('').slice(0, Math.floor(random() * chars.length)) : chars.join('');
      } else {
        // Damage the values: right JSON, wrong types and numbers.
        const value = JSON.parse(text) as unknown;
        const mutate = (node: unknown): unknown => {
          if (Array.isArray(node)) return node.map(mutate);
          if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, random() < 0.1 ? [null, -1, 'x', 1e300, {}, []][Math.floor(random() * 6)] : mutate(v)]));
          return node;
        };
        text = JSON.stringify(mutate(value));
      }
      writeFileSync(path.join(dir, 'listing.json'), text);
      const frr = await readFrrDatabase(dir, 0);
      for (const scope of [...frr.lsdb.areas(), AS_SCOPE]) for (const lsa of frr.lsdb.lsas(scope, 0)) assert.ok(lsa.bytes.length >= 20);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
