/** `endsight keys init --dir DIR`: the designated authority's Ed25519 key pair, which signs fleet queries. */
import { Command } from 'commander';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { generateAuthorityKeys, loadKey } from '../../fleet/signed-query.js';
import { issueCertificate } from '../../fleet/analyst-certificate.js';
import { parseDurationMs } from '../../common/duration.js';

export const PRIVATE_KEY_FILE = 'authority.key';
export const PUBLIC_KEY_FILE = 'authority.pub';

export function keysCommand(): Command {
  const keys = new Command('keys')
    .summary("manage the authority's keys that sign fleet queries")
    .description(
      'Fleet queries run on a host only when signed by the designated authority (docs/fleet.md). ' +
        '`keys init` creates its Ed25519 key pair: keep authority.key secret (it is written readable by its owner only); ' +
        'give authority.pub to every agent (--authority).',
    );
  keys.addCommand(
    new Command('init')
      .summary('create the authority key pair')
      .description(`Writes ${PRIVATE_KEY_FILE} (PKCS#8 PEM, mode 0600) and ${PUBLIC_KEY_FILE} (SPKI PEM) into DIR, creating DIR. Refuses to overwrite existing keys.`)
      .requiredOption('--dir <dir>', 'directory for the key pair')
      .option('--json', 'print the files written as JSON')
      .addHelpText('after', '\nExample:\n  endsight keys init --dir /etc/endsight/authority\n')
      .action(async (options: { dir: string; json?: boolean }) => {
        const dir = path.resolve(options.dir);
        const privatePath = path.join(dir, PRIVATE_KEY_FILE);
        const publicPath = path.join(dir, PUBLIC_KEY_FILE);
        await fs.mkdir(dir, { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
          throw new RangeError(`Cannot create the key directory ${dir}: ${error.message}`);
        });
        for (const file of [privatePath, publicPath]) {
          if (await fs.stat(file).catch(() => null)) {
            throw new RangeError(`Not overwriting ${file}: an authority key pair is already there (remove it first if you mean to replace it; every agent then needs the new ${PUBLIC_KEY_FILE})`);
          }
        }
        const { privateKeyPem, publicKeyPem } = generateAuthorityKeys();
        // 'wx': fail rather than replace a file that appeared meanwhile.
        await fs.writeFile(privatePath, privateKeyPem, { mode: 0o600, flag: 'wx' });
        await fs.writeFile(publicPath, publicKeyPem, { mode: 0o644, flag: 'wx' });
        if (options.json) {
          process.stdout.write(JSON.stringify({ privateKey: privatePath, publicKey: publicPath }) + '\n');
        } else {
          process.stdout.write(`Wrote ${privatePath} (secret: signs fleet queries)\nWrote ${publicPath} (give it to every agent: --authority ${publicPath})\n`);
        }
      }),
  );
  keys.addCommand(
    new Command('certify')
      .summary("let an analyst's own key sign listed query templates")
      .description(
        "Signs, with the authority's private key, a certificate for an analyst's Ed25519 public key (make their pair with " +
          '`endsight keys init` on their side) listing the query templates they may sign: each one SELECT with $parameters, ' +
          'which become SQL literals (a string or a number) when the analyst asks (`endsight query --certificate FILE ' +
          '--template NAME --param K=V`). Agents check the certificate, the analyst\'s signature, and that the SQL they are ' +
          'asked to run is what the template gives (docs/fleet.md, "Analysts"). A parameter may not sit inside quotes or a comment.',
      )
      .requiredOption('--authority-key <file>', "the authority's private key (authority.key)")
      .requiredOption('--analyst-key <file>', "the analyst's public key (their authority.pub from keys init)")
      .requiredOption('--name <name>', "the analyst's name: the issuer of their queries, in every host's audit log")
      .requiredOption('--template <name=sql>', 'a template the analyst may sign; repeatable', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
      .option('--valid <duration>', 'how long the certificate is valid', '30d')
      .option('--standing', 'also let the analyst register the templates as standing queries (endsight watch)')
      .requiredOption('--out <file>', 'where to write the certificate (JSON)')
      .addHelpText('after', [
        '',
        'Example:',
        '  endsight keys certify --authority-key /etc/endsight/authority/authority.key --analyst-key alice.pub --name alice \\',
        "    --template 'top-apps=SELECT process, sum(bytes) AS bytes FROM flows WHERE dst_port = $port GROUP BY 1 ORDER BY 2 DESC LIMIT 10' \\",
        '    --out alice.cert',
      ].join('\n'))
      .action(async (options: { authorityKey: string; analystKey: string; name: string; template: string[]; valid: string; standing?: boolean; out: string }) => {
        const read = (file: string, option: string): Promise<string> =>
          fs.readFile(file, 'utf8').catch((error: Error) => {
            throw new RangeError(`Cannot read ${option} ${file}: ${error.message}`);
          });
        const authorityKey = loadKey(await read(options.authorityKey, '--authority-key'), 'private', options.authorityKey);
        const analystPem = await read(options.analystKey, '--analyst-key');
        loadKey(analystPem, 'public', options.analystKey);
        const templates: Record<string, string> = {};
        for (const item of options.template) {
          const eq = item.indexOf('=');
          if (eq <= 0) throw new RangeError(`Cannot use --template ${JSON.stringify(item)}: write NAME=SQL`);
          templates[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
        }
        const validMs = parseDurationMs(options.valid, '--valid');
        const certificate = issueCertificate(authorityKey, { name: options.name, publicKeyPem: analystPem, templates, standing: options.standing === true }, validMs);
        await fs.writeFile(options.out, JSON.stringify(certificate) + '\n', { mode: 0o644, flag: 'wx' }).catch((error: NodeJS.ErrnoException) => {
          throw new RangeError(error.code === 'EEXIST' ? `Not overwriting ${options.out}: a file is already there` : `Cannot write ${options.out}: ${error.message}`);
        });
        const body = JSON.parse(certificate.body) as { notAfter: string };
        process.stdout.write(`Wrote ${options.out}: ${options.name} may sign ${Object.keys(templates).join(', ')} until ${body.notAfter}\n`);
      }),
  );
  return keys;
}
