/** Tuning knobs of the capture readers; the defaults suit an importer, tests shrink them. */
export interface CaptureOptions {
  /**
   * Bytes asked of the file (or decompressor) per read, and the initial buffer size. Default 1 MiB.
   * Records larger than a chunk still work: the buffer grows up to the largest record allowed.
   */
  chunkSize?: number;
  /** Most packets in one batch. Default 8192. */
  batchCapacity?: number;
}

/** The options with every default filled in. */
export interface ResolvedCaptureOptions {
  chunkSize: number;
  batchCapacity: number;
}

/** Default read size: large enough that per-read overhead vanishes, small enough to stay in cache-friendly territory. */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
/** Default most packets per batch. */
export const DEFAULT_BATCH_CAPACITY = 8192;

/** Fills in defaults and clamps nonsense (zero, negative, fractional) to the smallest sane value. */
export function resolveCaptureOptions(options: CaptureOptions | undefined): ResolvedCaptureOptions {
  const chunkSize = Math.floor(options?.chunkSize ?? DEFAULT_CHUNK_SIZE);
  const batchCapacity = Math.floor(options?.batchCapacity ?? DEFAULT_BATCH_CAPACITY);
  return {
    chunkSize: Number.isFinite(chunkSize) && chunkSize >= 1 ? chunkSize : 1,
    batchCapacity: Number.isFinite(batchCapacity) && batchCapacity >= 1 ? batchCapacity : 1,
  };
}
