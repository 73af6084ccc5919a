/**
 * Why a reader's synchronous parse pass stopped. The async driver (the `batches()` generator) then
 * yields the batch, reads more input, or resynchronises; it is the only place that awaits.
 */
export const ParseStatus = {
  /** The batch has no room left: yield it, then parse on in the same buffer. */
  BATCH_FULL: 0,
  /** The next record is not wholly in the buffer: yield what there is, then read more. */
  NEED_MORE: 1,
  /** The framing is corrupt (the reason is already counted): yield what there is, then resynchronise. */
  CORRUPT: 2,
} as const;

/** One of the ParseStatus values. */
export type ParseStatus = (typeof ParseStatus)[keyof typeof ParseStatus];
