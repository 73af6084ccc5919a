/** Byte sizes as people write them: 2GiB, 500MB, 64k, 1048576 (plain numbers are bytes). */

const SCALE: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** The size in bytes, or null when `text` is not a size or too large to hold exactly. */
export function parseByteSize(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB|k|M|G|T)?\s*$/i.exec(text);
  if (!match) return null;
  const bytes = Math.floor(Number(match[1]) * SCALE[(match[2] ?? 'B').toLowerCase()]);
  return Number.isSafeInteger(bytes) ? bytes : null;
}
