/**
 * The `endsight` command line. Each verb lives in commands/; errors from people's input become one
 * line on stderr and exit code 1; usage errors exit 2 (commander's convention); bugs print a stack.
 */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { importCommand } from './commands/import-command.js';
import { queryCommand } from './commands/query-command.js';
import { flowsCommand } from './commands/flows-command.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

/** Error classes whose message is meant for the user as it is. */
const USER_ERRORS = new Set(['CaptureError', 'StoreError', 'QueryError', 'FilterError', 'RangeError']);

/** Commander's usage errors as one line like every other error: `endsight: <message> (run with --help for usage)`. */
const ONE_LINE_ERRORS = {
  outputError: (text: string, write: (s: string) => void) =>
    write(`endsight: ${text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (run with --help for usage)\n`),
};

export async function main(argv: string[]): Promise<number> {
  const program = new Command('endsight')
    .description('End-system network monitoring: per-flow records from every host, queryable by SQL.')
    .version(version)
    .configureOutput(ONE_LINE_ERRORS)
    .exitOverride()
    .addCommand(importCommand())
    .addCommand(queryCommand())
    .addCommand(flowsCommand());
  for (const command of program.commands) command.exitOverride().configureOutput(ONE_LINE_ERRORS);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    const name = (error as Error)?.name;
    if (USER_ERRORS.has(name)) {
      process.stderr.write(`endsight: ${(error as Error).message.split('\n')[0]}\n`);
    } else {
      process.stderr.write(`endsight: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
    }
    return 1;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
