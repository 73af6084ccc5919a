/** A problem with the store that the user must act on (full disk, unwritable directory, bad option). */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
