/**
 * The check behind analyst certificates (analyst-certificate.ts): an analyst's envelope runs, or is
 * merged, only as the coordinator's planner makes the certificate's template with its parameters.
 * Hosts check the query they run; site aggregators check it and the merge they are told to do.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { mergeSpecOf } from './merge-answers.js';
import { planFleetQuery } from './query-plan.js';
import { canonicalJson, QueryRefused, type QueryEnvelope } from './signed-query.js';

/** Plans `templateSql` on `connection` and refuses (not_allowed) an envelope that differs from the plan. */
export async function checkTemplatePlan(connection: DuckDBConnection, envelope: QueryEnvelope, templateSql: string, checkMerge: boolean): Promise<void> {
  const name = envelope.template?.name;
  let plan: Awaited<ReturnType<typeof planFleetQuery>>;
  try {
    plan = await planFleetQuery(connection, templateSql);
  } catch (error) {
    throw new QueryRefused('not_allowed', `template ${name}: ${(error as Error).message.split('\n')[0]}`);
  }
  const hostSql = plan.kind === 'registry' ? plan.sql : plan.hostSql;
  const mergeDiffers = checkMerge && (plan.kind === 'registry' || canonicalJson(mergeSpecOf(plan)) !== canonicalJson(envelope.merge));
  if (hostSql !== envelope.query || mergeDiffers) {
    throw new QueryRefused('not_allowed', `the query${checkMerge ? ' or its merge' : ''} is not what template ${name} gives with its parameters`);
  }
}
