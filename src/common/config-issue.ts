/**
 * A checked configuration document's problem (one zod issue) as one line: `where: what`.
 *
 * Keys are quoted when they are not plain names: a key may hold a line break, and every problem
 * must stay one line (the agent configuration's and the privacy policy's fuzzers found keys that
 * split the message).
 */
import type { z } from 'zod';

/** A key as an error message shows it. */
export function keyText(key: PropertyKey): string {
  const text = String(key);
  return /^[\w-]+$/.test(text) ? text : JSON.stringify(text);
}

/** `issue` as `where: what`; unknown keys are named as `unknownKeys` (e.g. "setting") and pointed to `docs`. */
export function describeIssue(issue: z.core.$ZodIssue, unknownKeys = 'key', docs?: string): string {
  const where = issue.path.length > 0 ? issue.path.map(keyText).join('.') : 'top level';
  const what =
    issue.code === 'unrecognized_keys'
      ? `unknown ${unknownKeys}${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map(keyText).join(', ')}${docs ? ` (${docs} lists them)` : ''}`
      : issue.message.split('\n')[0];
  return `${where}: ${what}`;
}
