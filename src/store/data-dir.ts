/** Where the store lives when --data-dir is not given. */
import os from 'node:os';
import path from 'node:path';

/** `/var/lib/endsight` as root, otherwise `$XDG_DATA_HOME/endsight` or `~/.local/share/endsight`. */
export function defaultDataDir(): string {
  if (process.getuid?.() === 0) return '/var/lib/endsight';
  const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'endsight');
}
