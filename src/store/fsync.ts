/** fsync for a file or a directory (a rename or an unlink is durable once its directory is synced). */
import { promises as fs } from 'node:fs';
import path from 'node:path';

export async function fsyncPath(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `text` to `tmpPath`, syncs it, and renames it to `finalPath`: the file is then whole or absent. */
export async function writeFileAtomic(tmpPath: string, finalPath: string, text: string, mode = 0o644): Promise<void> {
  const handle = await fs.open(tmpPath, 'w', mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.rename(tmpPath, finalPath);
  await fsyncPath(path.dirname(finalPath));
}
