/** fsync for a file or a directory (a rename or an unlink is durable once its directory is synced). */
import { promises as fs } from 'node:fs';

export async function fsyncPath(file: string): Promise<void> {
  const handle = await fs.open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
