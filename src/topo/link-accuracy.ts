/**
 * How far to trust a link's load when only some endpoints are instrumented (issue 5, "accuracy under
 * partial instrumentation"). Per link, the measured load splits into what pairs seen by both ends
 * put there and what pairs seen by one end put there; pairs between two uninstrumented endpoints are
 * not seen at all and are estimated.
 *
 *   - Seen by both ends: the matrix takes the larger view, which still lacks what both ends missed
 *     (drops, a capture started late). For two ends that miss independently, the two views differ
 *     by about as much as the larger still lacks, so the bound counts their difference twice.
 *   - Seen by one end: nothing to compare with; one end misses about 1.5 times the rate at which the
 *     two views of the pairs seen twice disagree (disagreement over bytes, network-wide): the bound
 *     takes twice that rate.
 *   - Seen by neither: if a fraction p of the endpoints is instrumented and traffic does not prefer
 *     instrumented endpoints, pairs with one instrumented end carry 2p(1 − p) of the traffic and
 *     pairs with none (1 − p)², so the unseen bytes are the one-end bytes times (1 − p) / 2p. The
 *     estimate is added to the load, and counted whole in the bound: it rests on that assumption.
 *     Heavy-tailed flows make the unseen part lumpy: taking the unseen pairs as a draw from the same
 *     sizes as the one-end pairs, the bound adds two standard deviations, 2·√(ratio · Σ bytes²).
 */
import { routeDemands, linkKey, type Demand } from './link-loads.js';
import type { NetworkModel } from './network-model.js';

export interface LinkAccuracy {
  from: string;
  to: string;
  via: string;
  fromAddress: string;
  /** Bytes measured: seen by both ends plus seen by one. */
  measured: number;
  seenByBoth: number;
  seenByOne: number;
  /** Estimated bytes of pairs no instrumented end saw. */
  unseenEstimate: number;
  /** measured + unseenEstimate. */
  estimate: number;
  /** The bound on |true load − estimate|. */
  errorBound: number;
}

export function linkAccuracy(model: NetworkModel, demands: readonly Demand[], instrumentedFraction: number): LinkAccuracy[] {
  const p = Math.min(1, Math.max(instrumentedFraction, 1e-9));
  const byClass = (seenBy: 1 | 2): Map<string, number> =>
    new Map(routeDemands(model, demands.filter((d) => (d.seenBy ?? 1) === seenBy)).links.map((l) => [linkKey(l), l.bytes]));
  const both = byClass(2);
  const one = byClass(1);
  const disagreement = new Map(routeDemands(model, demands.filter((d) => (d.disagreement ?? 0) > 0).map((d) => ({ ...d, bytes: d.disagreement! }))).links.map((l) => [linkKey(l), l.bytes]));
  const twiceBytes = demands.filter((d) => d.seenBy === 2).reduce((sum, d) => sum + d.bytes, 0);
  const twiceDisagreement = demands.filter((d) => d.seenBy === 2).reduce((sum, d) => sum + (d.disagreement ?? 0), 0);
  const rate = twiceBytes > 0 ? twiceDisagreement / twiceBytes : 0;
  const ratio = (1 - p) / (2 * p);
  // Σ bytes² of the one-end pairs per link: the unseen pairs are taken as a draw from the same sizes.
  const squares = new Map(routeDemands(model, demands.filter((d) => (d.seenBy ?? 1) === 1).map((d) => ({ ...d, bytes: d.bytes * d.bytes }))).links.map((l) => [linkKey(l), l.bytes]));
  const all = routeDemands(model, demands).links;
  return all.map((l) => {
    const key = linkKey(l);
    const seenByBoth = both.get(key) ?? 0;
    const seenByOne = one.get(key) ?? 0;
    const unseenEstimate = seenByOne * ratio;
    const unseenSpread = 2 * Math.sqrt(ratio * (squares.get(key) ?? 0));
    return {
      from: l.from, to: l.to, via: l.via, fromAddress: l.fromAddress,
      measured: l.bytes, seenByBoth, seenByOne, unseenEstimate,
      estimate: l.bytes + unseenEstimate,
      errorBound: 2 * (disagreement.get(key) ?? 0) + 2 * rate * seenByOne + unseenEstimate + unseenSpread,
    };
  });
}
