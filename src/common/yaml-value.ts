/**
 * A parsed YAML document's value, or why it has none. `toJS` throws on what parsing lets through:
 * an alias to an anchor not set before it, or more aliases than the limit (a "billion laughs" file
 * that would expand without bound); callers turn the reason into their one-line error.
 */
import { LineCounter, parseDocument, type Document } from 'yaml';

export function yamlValue(document: Document): { value: unknown } | { error: string } {
  try {
    return { value: document.toJS({ maxAliasCount: 100 }) as unknown };
  } catch (error) {
    return { error: (error as Error).message.split('\n')[0] };
  }
}

/** The value of YAML (or JSON) text; throws one error naming `label` and the line of each syntax problem. */
export function parseYamlText(text: string, label: string): unknown {
  const lines = new LineCounter();
  const document = parseDocument(text, { prettyErrors: false, lineCounter: lines });
  if (document.errors.length > 0) {
    throw new RangeError(document.errors.map((e) => `${label}: line ${lines.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`).join('\n'));
  }
  const read = yamlValue(document);
  if ('error' in read) throw new RangeError(`${label}: ${read.error}`);
  return read.value;
}
