/** A query the engine refused or could not run; the message is the engine's, on one line where possible. */
export class QueryError extends Error {
  override readonly name = 'QueryError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
