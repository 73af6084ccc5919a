/**
 * Options the fleet verbs share: the NATS connection's TLS files (--nats-ca, --nats-cert, --nats-key),
 * and what a coordinator needs to ask (--sign-key, --target, --fleet, --issuer, --timeout, --max-rows).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import type { Command } from 'commander';
import type { KeyObject } from 'node:crypto';
import { parseDurationMs } from '../common/duration.js';
import { positiveInteger } from './common-options.js';

export interface NatsTlsCliOptions {
  natsCa?: string;
  natsCert?: string;
  natsKey?: string;
}

export function addNatsTlsOptions(command: Command): Command {
  return command
    .option('--nats-ca <file>', "CA certificate that signed the NATS server's (TLS)")
    .option('--nats-cert <file>', 'client certificate for NATS (TLS)')
    .option('--nats-key <file>', "the client certificate's key");
}

/** Reads a file an option names; a missing or unreadable one is one clear error naming the option. */
export async function readOptionFile(file: string, option: string): Promise<string> {
  return fs.readFile(file, 'utf8').catch((error: Error) => {
    throw new RangeError(`Cannot read ${option} ${file}: ${error.message}`);
  });
}

/** The TLS files as PEM texts, or null when none is given (the URL's scheme decides). */
export async function natsTls(options: NatsTlsCliOptions): Promise<{ ca: string | null; cert: string | null; key: string | null } | null> {
  if (!options.natsCa && !options.natsCert && !options.natsKey) return null;
  return {
    ca: options.natsCa ? await readOptionFile(options.natsCa, '--nats-ca') : null,
    cert: options.natsCert ? await readOptionFile(options.natsCert, '--nats-cert') : null,
    key: options.natsKey ? await readOptionFile(options.natsKey, '--nats-key') : null,
  };
}

export interface FleetAskCliOptions extends NatsTlsCliOptions {
  nats: string;
  certificate?: string;
  template?: string;
  param?: string[];
  signKey?: string;
  target: string;
  fleet: string;
  issuer?: string;
  timeout: string;
  maxRows: string;
}

/** --sign-key, --target, --fleet, --issuer, --timeout, --max-rows (after the verb's own --nats). */
export function addFleetAskOptions(command: Command): Command {
  command
    .option('--sign-key <file>', "the authority's private key (endsight keys init) that signs the query; needed with --nats")
    .option('--target <target>', 'which hosts: all, host:ID, site:NAME, tag:T or net:CIDR', 'all')
    .option('--fleet <name>', 'the fleet to ask', 'endsight')
    .option('--issuer <name>', "who asks, for the hosts' audit logs (default: user@host)")
    .option('--timeout <duration>', "each host's time limit; the answer waits 2 s longer", '10s')
    .option('--max-rows <n>', 'rows each host may return', '100000')
    .option('--certificate <file>', "an analyst's certificate (endsight keys certify): --sign-key is then the analyst's own key, and the query one of its templates")
    .option('--template <name>', "with --certificate: the template to ask (instead of the SQL argument)")
    .option('--param <k=v>', "a template parameter, a string (k=v) or a number (k:=5); repeatable", (v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
  return addNatsTlsOptions(command);
}

/**
 * The checked settings of addFleetAskOptions, with the key and TLS files read: the SQL to ask (the
 * argument, or an analyst's template with its parameters), who asks (an analyst's certificate names
 * them), the limits, and the certificate and template when an analyst asks.
 */
export async function fleetAskSettings(options: FleetAskCliOptions, sqlArgument: string | undefined): Promise<{
  sql: string;
  signKey: KeyObject;
  issuer: string;
  limits: { timeoutMs: number; maxRows: number };
  tls: Awaited<ReturnType<typeof natsTls>>;
  analyst?: { certificate: import('../fleet/analyst-certificate.js').SignedCertificate; template: import('../fleet/analyst-certificate.js').TemplateUse };
}> {
  const asked = await analystSettings(options, sqlArgument);
  if (options.signKey === undefined) throw new RangeError("Cannot ask the fleet without --sign-key: hosts answer only queries signed by the authority's key (endsight keys init)");
  const { loadKey } = await import('../fleet/signed-query.js');
  const signKey = loadKey(await readOptionFile(options.signKey, '--sign-key'), 'private', options.signKey);
  const timeoutMs = parseDurationMs(options.timeout, '--timeout');
  if (!(timeoutMs > 0 && timeoutMs <= 600_000)) throw new RangeError(`Cannot use --timeout ${JSON.stringify(options.timeout)}: from more than zero to 10m (what hosts accept)`);
  const maxRows = positiveInteger(options.maxRows, '--max-rows');
  const issuer = asked.issuer ?? options.issuer ?? `${os.userInfo().username}@${os.hostname()}`;
  return { sql: asked.sql, signKey, issuer, limits: { timeoutMs, maxRows }, tls: await natsTls(options), analyst: asked.analyst };
}

/**
 * The SQL to ask and, for an analyst (--certificate), the certificate and the template use: the SQL
 * is then the template's with the parameters, and the issuer the certificate's name.
 */
async function analystSettings(options: FleetAskCliOptions, sql: string | undefined): Promise<{
  sql: string;
  issuer: string | null;
  analyst?: { certificate: import('../fleet/analyst-certificate.js').SignedCertificate; template: import('../fleet/analyst-certificate.js').TemplateUse };
}> {
  if (options.certificate === undefined) {
    if (options.template !== undefined || options.param !== undefined) throw new RangeError('Cannot use --template or --param without --certificate: templates are an analyst\'s');
    if (sql === undefined) throw new RangeError('Cannot ask without a query: give the SQL');
    return { sql, issuer: null };
  }
  if (options.template === undefined) throw new RangeError('Cannot ask with --certificate without --template: an analyst asks the templates of their certificate');
  if (sql !== undefined) throw new RangeError('Cannot give SQL with --template: the template is the query (its parameters: --param)');
  let certificate: import('../fleet/analyst-certificate.js').SignedCertificate;
  let body: { name: string; templates: Record<string, string> };
  try {
    certificate = JSON.parse(await readOptionFile(options.certificate, '--certificate'));
    body = JSON.parse(certificate.body);
  } catch (error) {
    throw new RangeError(`Cannot read --certificate ${options.certificate}: ${(error as Error).message} (write one with endsight keys certify)`);
  }
  const template = body.templates?.[options.template];
  if (typeof template !== 'string') throw new RangeError(`Cannot ask --template ${options.template}: the certificate has ${Object.keys(body.templates ?? {}).join(', ')}`);
  const params: Record<string, string | number> = {};
  for (const item of options.param ?? []) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)(:?)=(.*)$/s.exec(item);
    if (!match) throw new RangeError(`Cannot use --param ${JSON.stringify(item)}: write NAME=TEXT or NAME:=NUMBER`);
    const [, name, numeric, value] = match;
    if (numeric && !Number.isFinite(Number(value))) throw new RangeError(`Cannot use --param ${JSON.stringify(item)}: ${JSON.stringify(value)} is not a number`);
    params[name] = numeric ? Number(value) : value;
  }
  const { instantiateTemplate } = await import('../fleet/analyst-certificate.js');
  let text: string;
  try {
    text = instantiateTemplate(template, params);
  } catch (error) {
    throw new RangeError(`Cannot ask --template ${options.template}: ${(error as Error).message}`);
  }
  if (options.issuer !== undefined && options.issuer !== body.name) throw new RangeError(`Cannot use --issuer ${options.issuer}: the certificate is ${body.name}'s, and hosts refuse another issuer`);
  return { sql: text, issuer: body.name, analyst: { certificate, template: { name: options.template, params } } };
}
