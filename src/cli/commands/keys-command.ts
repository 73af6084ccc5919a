/** `endsight keys init --dir DIR`: the designated authority's Ed25519 key pair, which signs fleet queries. */
import { Command } from 'commander';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { generateAuthorityKeys } from '../../fleet/signed-query.js';

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
  return keys;
}
