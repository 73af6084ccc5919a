/** Options every fleet verb shares for its NATS connection: --nats-ca, --nats-cert, --nats-key; and reading the files they name. */
import { promises as fs } from 'node:fs';
import type { Command } from 'commander';

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
