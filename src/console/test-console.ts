/** Test support (not exported): `endsight console` as a child process, and the URL it prints once it serves. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');

/** Starts `endsight console ARGS` and resolves with its page URL (with #token=) once it listens; rejects with its output if it exits first. */
export async function startConsole(args: string[], timeoutMs = 30_000): Promise<{ server: ChildProcess; url: string; base: string; stop: () => Promise<void> }> {
  const server = spawn(process.execPath, [BIN, 'console', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  server.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const stop = async (): Promise<void> => {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('close', resolve));
    }
  };
  const deadline = Date.now() + timeoutMs;
  while (!/the console is on (\S+)/.test(stderr)) {
    if (Date.now() > deadline || server.exitCode !== null) {
      await stop();
      throw new Error(`the console did not start: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const url = /the console is on (\S+)/.exec(stderr)![1];
  return { server, url, base: url.replace(/\/#token=.*$/, ''), stop };
}
