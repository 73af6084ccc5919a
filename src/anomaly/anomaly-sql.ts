/**
 * `app_anomalies(window_start, window_end)`: a DuckDB table macro that scores every application of
 * one window on one host against that host's own history (docs/anomaly.md).
 *
 * Why SQL over the store rather than a maintained table of hourly features: the store already holds
 * every flow of the last weeks, sorted by time in per-day Parquet segments, so the baseline is one
 * columnar scan of five columns over the lookback (28 days) that every host's sandboxed engine can
 * run as part of a signed fleet query; nothing has to be written, kept in step with compaction,
 * retention and late exports, or allowed into the sandbox (which reads only flows/ and imports/).
 * The answer is the same whenever it is asked, including for a past window (--between). The cost is
 * that scan, measured in docs/anomaly.md; a maintained hourly table is the next step if it is too slow.
 *
 * The window [window_start, window_end) (at most a day) is compared with the same window shifted back
 * by whole weeks (1 to 4: the same hours of the week) and, when fewer than three of those hold any of
 * the host's flows, also by days of the same type (weekday or weekend, 1 to 14 days). A past period
 * counts only when the host recorded something in it, so a host that was off or new is not compared
 * with zeros; an application absent from a period the host was recording counts as zero there.
 */
import { APPLICATION_SQL } from '../query/application-sql.js';
import {
  DAYS_BACK, FEATURES, FLOORS, LOOKBACK_DAYS, MAD_SCALE, MAX_WINDOW_US, MIN_WEEKLY_PERIODS, RELATIVE_FLOOR, SCORE_THRESHOLD, WEEKS_BACK,
  type Feature,
} from './anomaly-thresholds.js';

/** Table macros that read `flows`: defined after the view (DuckDB binds a table macro when it is created). */
export const FLOW_TABLE_MACRO_NAMES: readonly string[] = ['app_anomalies'];

/** The columns app_anomalies returns, in order, with what each means (the command's --help and the docs use these). */
export const ANOMALY_COLUMNS: readonly { name: string; meaning: string }[] = [
  { name: 'host', meaning: 'the reporting host' },
  { name: 'app', meaning: "the application: protocol and the lower port (tcp/443); '*' is the host as a whole, scored on peers and ports only" },
  { name: 'kind', meaning: 'new_application (not seen in 28 days), scan (peers or ports), exfiltration (bytes sent, most of the growth), volume (bytes or flows), or normal' },
  { name: 'anomalous', meaning: `score >= ${SCORE_THRESHOLD}` },
  { name: 'score', meaning: 'the largest robust z-score of the scored features: (observed - median) / max(1.4826 MAD, 0.25 median, floor)' },
  { name: 'feature', meaning: 'the feature the kind rests on, whose evidence follows: bytes, sent, flows, peers or ports' },
  { name: 'observed', meaning: "that feature's value in the window" },
  { name: 'median', meaning: "its median over the baseline's past periods" },
  { name: 'mad', meaning: 'its median absolute deviation over them' },
  { name: 'baseline_periods', meaning: 'how many past periods (as long as the window) the baseline rests on' },
  { name: 'baseline', meaning: 'hour_of_week (the same hours 1-4 weeks back) or blended (also days of the same type, when fewer than 3 weeks have data)' },
  { name: 'bytes', meaning: 'bytes of the application in the window, both directions' },
  { name: 'sent', meaning: "bytes sent: outbound records when the direction is known, else records towards the application's port (the client's upload)" },
  { name: 'flows', meaning: 'flow records' },
  { name: 'peers', meaning: 'distinct address pairs (on a host with one address: distinct remote peers)' },
  { name: 'ports', meaning: "for '*': distinct applications (service ports); empty for an application" },
  { name: 'process', meaning: 'the process that moved most of its bytes, where attribution exists' },
  { name: 'pair', meaning: "the address pair with most bytes; for '*', the pair with most distinct applications (the scanner and its target)" },
  { name: 'window_start', meaning: 'the window scored (UTC)' },
  { name: 'window_end', meaning: 'its end (UTC, excluded)' },
];

const WS = 'CAST(window_start AS TIMESTAMP)';
const WE = 'CAST(window_end AS TIMESTAMP)';

/** SQL for the robust z-score of `feature` (columns n.<f> observed, b.<f>_median, b.<f>_mad). */
function zSql(feature: Feature): string {
  const spread = `greatest(${MAD_SCALE} * b.${feature}_mad, ${RELATIVE_FLOOR} * b.${feature}_median, ${FLOORS[feature]})`;
  // The host row ('*') is scored on what spreads over applications; an application on the rest.
  const scored = feature === 'ports' ? "n.app = '*'" : feature === 'peers' ? 'true' : "n.app <> '*'";
  return `CASE WHEN ${scored} THEN (n.${feature} - b.${feature}_median) / ${spread} END AS z_${feature}`;
}

/** The feature with the largest z among `features` (NULL z's skipped), as SQL. */
function argMaxSql(features: readonly Feature[]): string {
  const candidates = features.map((f) => `{'z': z_${f}, 'f': '${f}'}`).join(', ');
  return `list_reverse_sort(list_filter([${candidates}], c -> c.z IS NOT NULL))[1].f`;
}

const FEATURE_LIST = (prefix: string, make: (f: Feature) => string): string => FEATURES.map((f) => `${make(f)} AS ${prefix}${f}`).join(', ');

const BODY = `
WITH flow AS (
  SELECT host, ${APPLICATION_SQL} AS app, bytes, process, start_time, src_addr, dst_addr,
    CASE WHEN direction IN ('out', 'in', 'local', 'transit') THEN direction = 'out'
         ELSE proto IN (6, 17, 132) AND dst_port = least(src_port, dst_port) END AS sent_flag,
    -- Whole days before the window: a flow d days back lies in the period shifted by d days when it
    -- starts before that period's end (d = 0: in the window itself).
    CAST(ceil((epoch_us(${WS}) - epoch_us(start_time)) / 86400e6) AS INTEGER) AS d
  FROM flows
  WHERE (CASE WHEN ${WE} <= ${WS} OR epoch_us(${WE}) - epoch_us(${WS}) > ${MAX_WINDOW_US}
              THEN error('app_anomalies: the window must end after it starts and last at most a day') ELSE true END)
    AND start_time >= ${WS} - INTERVAL ${LOOKBACK_DAYS} DAY AND start_time < ${WE}
),
-- Only the flows of the window and of the past periods go on (a few percent of the lookback's):
-- this relation is read many times below, so it is kept small.
period AS (
  SELECT * EXCLUDE (src_addr, dst_addr), least(src_addr, dst_addr) || ' <-> ' || greatest(src_addr, dst_addr) AS pair
  FROM (SELECT *, CASE
      WHEN d = 0 THEN 'window'
      WHEN start_time + to_days(d) >= ${WE} THEN NULL
      WHEN d % 7 = 0 AND d <= ${7 * WEEKS_BACK} THEN 'week'
      WHEN d <= ${DAYS_BACK} AND (isodow(${WS} - to_days(d)) >= 6) = (isodow(${WS}) >= 6) THEN 'day'
    END AS period_kind FROM flow)
  WHERE period_kind IS NOT NULL
),
-- Applications seen at any time in the lookback before the window (a scan of three columns).
known AS (SELECT DISTINCT host, ${APPLICATION_SQL} AS app FROM flows WHERE start_time >= ${WS} - INTERVAL ${LOOKBACK_DAYS} DAY AND start_time < ${WS}),
active AS (SELECT host, d, any_value(period_kind) AS kind FROM period WHERE period_kind IN ('week', 'day') GROUP BY host, d),
weeks AS (SELECT host, count(*) FILTER (WHERE kind = 'week') AS weeks FROM active GROUP BY host),
used AS (SELECT a.host, a.d, w.weeks FROM active a JOIN weeks w USING (host) WHERE a.kind = 'week' OR w.weeks < ${MIN_WEEKLY_PERIODS}),
features AS (
  SELECT host, app, d, sum(bytes) AS bytes, coalesce(sum(bytes) FILTER (WHERE sent_flag), 0) AS sent, count(*) AS flows,
    count(DISTINCT pair) AS peers, CAST(NULL AS BIGINT) AS ports
  FROM period GROUP BY host, app, d
  UNION ALL
  SELECT host, '*', d, sum(bytes), coalesce(sum(bytes) FILTER (WHERE sent_flag), 0), count(*), count(DISTINCT pair), count(DISTINCT app)
  FROM period GROUP BY host, d
),
now AS (SELECT * FROM features WHERE d = 0),
history AS (
  SELECT n.host, n.app, u.weeks, ${FEATURE_LIST('', (f) => `CAST(coalesce(f.${f}, 0) AS DOUBLE)`)}
  FROM now n JOIN used u ON u.host = n.host LEFT JOIN features f ON f.host = n.host AND f.app = n.app AND f.d = u.d
),
baseline AS (
  SELECT host, app, count(*) AS periods, any_value(weeks) AS weeks,
    ${FEATURES.map((f) => `median(${f}) AS ${f}_median, mad(${f}) AS ${f}_mad`).join(', ')}
  FROM history GROUP BY host, app
),
-- Evidence, ties broken by name so that every host and the coordinator agree.
by_process AS (
  SELECT host, app, first(process ORDER BY bytes DESC, process) AS process
  FROM (SELECT host, app, process, sum(bytes) AS bytes FROM period WHERE d = 0 AND process IS NOT NULL GROUP BY ALL) GROUP BY host, app
),
by_pair AS (
  SELECT host, app, first(pair ORDER BY bytes DESC, pair) AS pair
  FROM (SELECT host, app, pair, sum(bytes) AS bytes FROM period WHERE d = 0 GROUP BY ALL) GROUP BY host, app
  UNION ALL
  SELECT host, '*', first(pair ORDER BY apps DESC, pair)
  FROM (SELECT host, pair, count(DISTINCT app) AS apps FROM period WHERE d = 0 GROUP BY host, pair) GROUP BY host
),
scored AS (
  SELECT n.host, n.app, n.app <> '*' AND k.app IS NULL AS new, b.periods, b.weeks,
    ${FEATURES.map((f) => `n.${f}, b.${f}_median, b.${f}_mad`).join(', ')},
    ${FEATURES.map(zSql).join(', ')}
  FROM now n JOIN baseline b USING (host, app) LEFT JOIN known k USING (host, app)
),
kinds AS (
  SELECT *,
    greatest(${FEATURES.map((f) => `z_${f}`).join(', ')}) AS score,
    CASE WHEN new THEN 'new_application'
         WHEN greatest(z_peers, z_ports) >= ${SCORE_THRESHOLD} THEN 'scan'
         -- Exfiltration when the host sent much more than usual and that is most of the growth: a
         -- large upload *to* the host's own server also raises what it sends back, but it is volume.
         WHEN z_sent >= ${SCORE_THRESHOLD} AND sent - sent_median >= 0.5 * (bytes - bytes_median) THEN 'exfiltration'
         WHEN greatest(z_bytes, z_flows) >= ${SCORE_THRESHOLD} THEN 'volume'
         ELSE 'normal' END AS kind
  FROM scored
),
explained AS (
  SELECT *, CASE kind WHEN 'scan' THEN ${argMaxSql(['peers', 'ports'])} WHEN 'exfiltration' THEN 'sent'
                      WHEN 'volume' THEN ${argMaxSql(['bytes', 'flows'])} ELSE ${argMaxSql(FEATURES)} END AS feature
  FROM kinds
)
SELECT x.host, x.app, x.kind, x.score >= ${SCORE_THRESHOLD} AS anomalous, x.score, x.feature,
  CASE x.feature ${FEATURES.map((f) => `WHEN '${f}' THEN CAST(x.${f} AS DOUBLE)`).join(' ')} END AS observed,
  CASE x.feature ${FEATURES.map((f) => `WHEN '${f}' THEN x.${f}_median`).join(' ')} END AS median,
  CASE x.feature ${FEATURES.map((f) => `WHEN '${f}' THEN x.${f}_mad`).join(' ')} END AS mad,
  x.periods AS baseline_periods, CASE WHEN x.weeks >= ${MIN_WEEKLY_PERIODS} THEN 'hour_of_week' ELSE 'blended' END AS baseline,
  CAST(x.bytes AS BIGINT) AS bytes, CAST(x.sent AS BIGINT) AS sent, x.flows, x.peers, x.ports, p.process, q.pair,
  ${WS} AS window_start, ${WE} AS window_end
FROM explained x LEFT JOIN by_process p USING (host, app) LEFT JOIN by_pair q USING (host, app)`;

/** The macros' CREATE statements, run by every query engine after its `flows` view exists. */
export const ANOMALY_MACROS: readonly string[] = [`CREATE MACRO app_anomalies(window_start, window_end) AS TABLE ${BODY}`];
