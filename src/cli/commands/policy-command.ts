/**
 * `endsight policy sign | check | push`: the fleet's privacy policy (docs/privacy.md), written as
 * YAML, signed by the authority, and given to hosts as a file (privacy.policy) or over NATS.
 */
import { Command } from 'commander';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { parseDurationMs } from '../../common/duration.js';
import { parseYamlText } from '../../common/yaml-value.js';
import { addNatsTlsOptions, natsTls, readOptionFile, type NatsTlsCliOptions } from '../nats-cli-options.js';
import { ResultWriter, type OutputFormat } from '../output.js';
import type { SignedPolicy } from '../../privacy/signed-policy.js';
import { ExitCode } from './agent-command.js';

const EXAMPLE_POLICY = [
  '  version: 2',
  '  default:',
  '    drop:',
  '      - addr: 10.66.0.0/16          # flows to or from the HR subnet are never recorded',
  '      - { user: "backup*", app: tcp/22 }',
  '    remove: [command]',
  '    pseudonymise: [username]',
  '    truncate:',
  '      remote_addr: { ipv4: 24, ipv6: 48 }',
  '    min_group_size: 5',
  '  hosts:',
  '    - target: tag:trusted             # first match wins; a complete policy of its own',
  '      policy: { drop: [ { addr: 10.66.0.0/16 } ] }',
].join('\n');

export function policyCommand(): Command {
  const policy = new Command('policy')
    .summary('the privacy policy hosts apply when they record flows: sign it, check it, push it to the fleet')
    .description(
      'A privacy policy says which flows a host never records (drop rules on addresses, ports, applications, processes, users), ' +
        'which fields it removes, pseudonymises (keyed hash) or truncates (address prefixes), and the smallest group a fleet ' +
        'answer may describe. Hosts apply only policies the authority signed, and only newer versions than the one in force; ' +
        'the policy applies before records reach the disk, the exports or the fleet (docs/privacy.md).',
    )
    .addHelpText('after', `\nA policy file (YAML):\n${EXAMPLE_POLICY}\n`);

  policy.addCommand(
    new Command('sign')
      .summary("sign a policy with the authority's key")
      .description('Checks the policy (every problem listed at once) and writes it signed, as JSON, to --out or standard output.')
      .argument('<policy>', 'the policy, YAML or JSON')
      .requiredOption('--sign-key <file>', "the authority's private key (endsight keys init)")
      .option('--fleet <name>', 'the fleet the policy is for (hosts of another fleet refuse it)', 'endsight')
      .option('--issuer <name>', 'who signs, for the hosts\' logs (default: user@host)')
      .option('--out <file>', 'write the signed policy here (mode 0644) instead of standard output')
      .addHelpText('after', '\nExamples:\n  endsight policy sign policy.yaml --sign-key authority.key --out /etc/endsight/policy.signed.json\n')
      .action(async (file: string, options: { signKey: string; fleet: string; issuer?: string; out?: string }) => {
        const signed = await signFile(file, options.signKey, options.fleet, options.issuer);
        const text = JSON.stringify(signed) + '\n';
        if (options.out === undefined) process.stdout.write(text);
        else {
          await fs.writeFile(options.out, text, { mode: 0o644 }).catch((error: Error) => {
            throw new RangeError(`Cannot write --out ${options.out}: ${error.message}`);
          });
          process.stderr.write(`signed privacy policy written to ${options.out}\n`);
        }
      }),
  );

  policy.addCommand(
    new Command('check')
      .summary('check a policy and show what a host would apply')
      .description(
        'Checks a policy (YAML, or signed JSON: with --authority its signature too) and prints the policy a host gets: the first ' +
          '`hosts` section whose target includes it, else the default.',
      )
      .argument('<policy>', 'the policy, YAML or signed JSON')
      .option('--authority <file>', "the authority's public key: check a signed policy's signature")
      .option('--fleet <name>', 'with --authority: the fleet the host is in', 'endsight')
      .option('--host <id>', 'the host to show the policy for', os.hostname())
      .option('--site <name>', "the host's site")
      .option('--tag <tag>', "a tag of the host's; repeatable", (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .option('--address <addr>', "an address of the host's (for net: targets); repeatable", (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .option('--format <format>', 'text or json', 'text')
      .addHelpText('after', '\nExamples:\n  endsight policy check policy.yaml --host db1 --tag trusted\n  endsight policy check policy.signed.json --authority authority.pub\n')
      .action(async (file: string, options: { authority?: string; fleet: string; host: string; site?: string; tag?: string[]; address?: string[]; format: string }) => {
        if (!['text', 'json'].includes(options.format)) throw new RangeError(`Cannot use --format ${JSON.stringify(options.format)}: use text or json`);
        const { policyFor } = await import('../../privacy/privacy-policy.js');
        const document = await readDocument(file, options.authority, options.fleet);
        const { policy: hostPolicy, section } = policyFor(document, { id: options.host, site: options.site ?? null, tags: options.tag ?? [], addresses: options.address ?? [] });
        if (options.format === 'json') {
          process.stdout.write(JSON.stringify({ version: document.version, host: options.host, section, policy: hostPolicy }) + '\n');
          return;
        }
        const truncate = Object.entries(hostPolicy.truncate).map(([field, t]) => `${field} to /${t.ipv4} (IPv4), /${t.ipv6} (IPv6)`);
        process.stdout.write(
          [
            `policy version ${document.version}: host ${options.host} gets ${section === 'default' ? 'the default' : `the section for ${section}`}`,
            `  drop:          ${hostPolicy.drop.length === 0 ? 'nothing' : hostPolicy.drop.map((rule) => JSON.stringify(rule)).join('\n                 ')}`,
            `  remove:        ${hostPolicy.remove.join(', ') || 'nothing'}`,
            `  pseudonymise:  ${hostPolicy.pseudonymise.join(', ') || 'nothing'}`,
            `  truncate:      ${truncate.join('; ') || 'nothing'}`,
            `  fleet answers: ${hostPolicy.minGroupSize > 1 ? `aggregates only, groups of at least ${hostPolicy.minGroupSize} flows` : 'any'}`,
          ].join('\n') + '\n',
        );
      }),
  );

  const push = new Command('push')
    .summary('send a policy to every host of the fleet over NATS and show what each applied')
    .description(
      'Publishes the signed policy (a YAML policy is signed first, with --sign-key) to every host, listens for their answers, and asks ' +
        'again those that have not answered until --wait has passed. Each host applies it if it is newer than its own, keeps it in its ' +
        'store for its next start, and answers the version it applies. Exit code 1 when a host refused it or did not answer.',
    )
    .argument('<policy>', 'the policy: YAML (signed here) or signed JSON (endsight policy sign)')
    .requiredOption('--nats <url>', 'the fleet\'s NATS server, with the coordinator\'s credentials (nats://coordinator:secret@host:4222)')
    .option('--sign-key <file>', "the authority's private key, to sign a YAML policy")
    .option('--fleet <name>', 'the fleet', 'endsight')
    .option('--issuer <name>', 'who signs (default: user@host)')
    .option('--wait <duration>', 'how long to wait for the hosts\' answers', '10s')
    .option('--format <format>', 'table, csv or json', 'table')
    .addHelpText(
      'after',
      [
        '',
        'Columns: host, outcome (applied: the host applies it now; unchanged: it already did; refused: see error; no answer: a host',
        'heard in the heartbeats that did not answer), version (the policy version the host applies), section (default, or the hosts',
        'target whose policy it applies), error.',
        '',
        'Example:',
        '  endsight policy push policy.yaml --sign-key authority.key --nats nats://coordinator:secret@broker:4222',
      ].join('\n'),
    );
  addNatsTlsOptions(push);
  policy.addCommand(push.action((file: string, options: PushOptions) => pushPolicy(file, options)));
  return policy;
}

interface PushOptions extends NatsTlsCliOptions {
  nats: string;
  signKey?: string;
  fleet: string;
  issuer?: string;
  wait: string;
  format: string;
}

/** The file's text as a signed policy, if it is one (JSON with policy and signature). */
function asSigned(text: string): SignedPolicy | null {
  try {
    const value = JSON.parse(text) as Partial<SignedPolicy>;
    return typeof value?.policy === 'string' && typeof value.signature === 'string' ? { policy: value.policy, signature: value.signature } : null;
  } catch {
    return null;
  }
}

async function signFile(file: string, signKeyFile: string, fleet: string, issuer: string | undefined): Promise<SignedPolicy> {
  const text = await readOptionFile(file, 'policy');
  if (asSigned(text)) throw new RangeError(`${file} is signed already: push or install it as it is`);
  const { loadKey } = await import('../../fleet/signed-query.js');
  const { signPolicy } = await import('../../privacy/signed-policy.js');
  const key = loadKey(await readOptionFile(signKeyFile, '--sign-key'), 'private', signKeyFile);
  return signPolicy(key, parseYamlText(text, file), { audience: fleet, issuer: issuer ?? `${os.userInfo().username}@${os.hostname()}` });
}

/** The policy document of a YAML file or a signed one (its signature checked when `authorityFile` is given). */
async function readDocument(file: string, authorityFile: string | undefined, fleet: string): Promise<import('../../privacy/privacy-policy.js').PolicyDocument> {
  const { parsePolicyDocument } = await import('../../privacy/privacy-policy.js');
  const text = await readOptionFile(file, 'policy');
  const signed = asSigned(text);
  if (signed === null) {
    if (authorityFile !== undefined) throw new RangeError(`${file} is not signed, so --authority has nothing to check (endsight policy sign)`);
    return parsePolicyDocument(parseYamlText(text, file), file);
  }
  if (authorityFile === undefined) return parsePolicyDocument((JSON.parse(signed.policy) as { document?: unknown }).document, file);
  const { loadKey } = await import('../../fleet/signed-query.js');
  const { verifySignedPolicy } = await import('../../privacy/signed-policy.js');
  return verifySignedPolicy(text, loadKey(await readOptionFile(authorityFile, '--authority'), 'public', authorityFile), fleet).document;
}

async function pushPolicy(file: string, options: PushOptions): Promise<void> {
  if (!['table', 'csv', 'json'].includes(options.format)) throw new RangeError(`Cannot use --format ${JSON.stringify(options.format)}: use table, csv or json`);
  const waitMs = parseDurationMs(options.wait, '--wait');
  if (!(waitMs > 0 && waitMs <= 600_000)) throw new RangeError(`Cannot use --wait ${JSON.stringify(options.wait)}: from more than zero to 10m`);
  const text = await readOptionFile(file, 'policy');
  let signed = asSigned(text);
  if (signed === null) {
    if (options.signKey === undefined) throw new RangeError(`${file} is not signed: give --sign-key to sign it, or sign it first (endsight policy sign)`);
    signed = await signFile(file, options.signKey, options.fleet, options.issuer);
  }
  const { connect, createInbox } = await import('@nats-io/transport-node');
  const { natsOptions } = await import('../../fleet/fleet-member.js');
  const { FleetRegistry } = await import('../../fleet/fleet-registry.js');
  const { encodeJson, HEARTBEAT_INTERVAL_MS, parseJson, policySubject, REASK_EVERY_MS } = await import('../../fleet/fleet-subjects.js');
  const connection = await connect(natsOptions({ nats: options.nats, tls: await natsTls(options) }, 'endsight policy push')).catch((error: Error) => {
    throw new RangeError(`Cannot connect to NATS at ${options.nats}: ${error.message}`);
  });
  const answers = new Map<string, { ok: boolean; version: number; applied?: boolean; section?: string; error?: string }>();
  let expected: string[] = [];
  try {
    const registry = new FleetRegistry(connection, options.fleet, { sites: false });
    const inbox = createInbox();
    const subscription = connection.subscribe(inbox, {
      callback: (error, msg) => {
        const answer = error ? null : (parseJson(msg) as { host?: unknown; ok?: unknown; version?: unknown; applied?: unknown; section?: unknown; error?: unknown } | null);
        if (!answer || typeof answer.host !== 'string' || typeof answer.ok !== 'boolean' || typeof answer.version !== 'number') return;
        // The first answer says what the push did (applied); later ones (asked again) say "unchanged".
        if (!answers.has(answer.host) || !answers.get(answer.host)!.ok) {
          answers.set(answer.host, {
            ok: answer.ok, version: answer.version, applied: answer.applied === true,
            section: typeof answer.section === 'string' ? answer.section : undefined, error: typeof answer.error === 'string' ? answer.error : undefined,
          });
        }
      },
    });
    const message = encodeJson(signed);
    const started = Date.now();
    connection.publish(policySubject(options.fleet), message, { reply: inbox });
    // Who is there: the hosts whose heartbeats arrive meanwhile.
    await new Promise((resolve) => setTimeout(resolve, Math.min(waitMs, HEARTBEAT_INTERVAL_MS * 1.5)));
    while (Date.now() - started < waitMs) {
      expected = registry.hosts().map((host) => host.id);
      if (expected.every((id) => answers.has(id))) break;
      connection.publish(policySubject(options.fleet), message, { reply: inbox });
      await new Promise((resolve) => setTimeout(resolve, Math.min(REASK_EVERY_MS, waitMs - (Date.now() - started))));
    }
    expected = registry.hosts().map((host) => host.id);
    registry.stop();
    subscription.unsubscribe();
  } finally {
    await connection.close();
  }
  const hosts = [...new Set([...expected, ...answers.keys()])].sort();
  const writer = new ResultWriter(options.format as OutputFormat, (out) => process.stdout.write(out));
  const rows = hosts.map((host) => {
    const answer = answers.get(host);
    if (!answer) return [host, 'no answer', null, null, null];
    return [host, !answer.ok ? 'refused' : answer.applied ? 'applied' : 'unchanged', answer.version, answer.section ?? null, answer.error ?? null];
  });
  writer.rows(
    [{ name: 'host', type: 'VARCHAR' }, { name: 'outcome', type: 'VARCHAR' }, { name: 'version', type: 'INTEGER' }, { name: 'section', type: 'VARCHAR' }, { name: 'error', type: 'VARCHAR' }],
    rows,
  );
  writer.end();
  if (hosts.length === 0) process.stderr.write('no host answered or was heard: are the agents connected to this NATS server, in this fleet?\n');
  if (hosts.length === 0 || rows.some((row) => row[1] === 'refused' || row[1] === 'no answer')) throw new ExitCode(1);
}
