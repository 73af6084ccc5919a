/**
 * The `endsight` command line. Each verb lives in commands/. Exit codes: 0 success; 1 a problem with
 * the input (a file, a query, a value), said in one `endsight:` line on stderr; 2 a usage error
 * (unknown option, missing argument), with the usage; bugs print a stack and exit 1.
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../common/version.js';
import { importCommand } from './commands/import-command.js';
import { queryCommand } from './commands/query-command.js';
import { flowsCommand } from './commands/flows-command.js';
import { agentCommand, upCommand } from './commands/agent-command.js';
import { keysCommand } from './commands/keys-command.js';
import { aggregatorCommand } from './commands/aggregator-command.js';
import { watchCommand } from './commands/watch-command.js';
import { consoleCommand, topoCommand } from './commands/topo-command.js';
import { labCommand } from './commands/lab-command.js';
import { whatifCommand } from './commands/whatif-command.js';
import { collectCommand } from './commands/collect-command.js';
import { coverageCommand } from './commands/coverage-command.js';
import { planCommand } from './commands/plan-command.js';
import { crosscheckCommand } from './commands/crosscheck-command.js';
import { auditCommand } from './commands/audit-command.js';
import { policyCommand } from './commands/policy-command.js';
import { anomaliesCommand } from './commands/anomalies-command.js';
import { capacityCommand } from './commands/capacity-command.js';

/** Error classes whose message is meant for the user as it is. */
const USER_ERRORS = new Set(['CaptureError', 'StoreError', 'QueryError', 'FilterError', 'RangeError', 'CaptureStartError', 'FleetQueryError']);
/** User errors that list several problems, one per line (every problem of a configuration at once). */
const MULTI_LINE_ERRORS = new Set(['ConfigError', 'PolicyError']);

/** Commander's usage errors as one line like every other error: `endsight: <message> (run with --help for usage)`. */
const ONE_LINE_ERRORS = {
  outputError: (text: string, write: (s: string) => void) =>
    write(`endsight: ${text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (run with --help for usage)\n`),
};

export async function main(argv: string[]): Promise<number> {
  const program = new Command('endsight')
    .description('End-system network monitoring: per-flow records from every host, queryable by SQL.')
    .version(VERSION)
    .configureOutput(ONE_LINE_ERRORS)
    .exitOverride()
    .addCommand(upCommand())
    .addCommand(agentCommand())
    .addCommand(importCommand())
    .addCommand(queryCommand())
    .addCommand(flowsCommand())
    .addCommand(keysCommand())
    .addCommand(watchCommand())
    .addCommand(aggregatorCommand())
    .addCommand(topoCommand())
    .addCommand(whatifCommand())
    .addCommand(collectCommand())
    .addCommand(coverageCommand())
    .addCommand(planCommand())
    .addCommand(crosscheckCommand())
    .addCommand(auditCommand())
    .addCommand(policyCommand())
    .addCommand(anomaliesCommand())
    .addCommand(capacityCommand())
    .addCommand(consoleCommand())
    .addCommand(labCommand());
  const configure = (command: Command): void => {
    command.exitOverride().configureOutput(ONE_LINE_ERRORS);
    command.commands.forEach(configure);
  };
  program.commands.forEach(configure);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const name = (error as Error)?.name;
    if (name === 'ExitCode') return (error as Error & { code: number }).code;
    if (MULTI_LINE_ERRORS.has(name)) {
      process.stderr.write(`endsight: ${(error as Error).message}\n`);
    } else if (USER_ERRORS.has(name)) {
      process.stderr.write(`endsight: ${(error as Error).message.split('\n')[0]}\n`);
    } else {
      process.stderr.write(`endsight: internal error: ${(error as Error)?.stack ?? String(error)}\n`);
    }
    return 1;
  }
}

// A reader that stops early (`endsight flows | head`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

main(process.argv).then((code) => {
  process.exitCode = code;
});
