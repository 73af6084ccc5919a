/**
 * A parsed YAML document's value, or why it has none. `toJS` throws on what parsing lets through:
 * an alias to an anchor not set before it, or more aliases than the limit (a "billion laughs" file
 * that would expand without bound); callers turn the reason into their one-line error.
 */
import type { Document } from 'yaml';

export function yamlValue(document: Document): { value: unknown } | { error: string } {
  try {
    return { value: document.toJS({ maxAliasCount: 100 }) as unknown };
  } catch (error) {
    return { error: (error as Error).message.split('\n')[0] };
  }
}
