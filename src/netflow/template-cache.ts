/**
 * Templates of NetFlow v9 (RFC 3954 §5.2) and IPFIX (RFC 7011 §3.4.1), kept per exporter, version,
 * observation domain (v9: source ID) and template ID, as RFC 7011 §8 scopes them. Bounded: at most
 * MAX_TEMPLATES in all, the least recently refreshed going first, and a template not refreshed for
 * TEMPLATE_LIFETIME_MS is gone (UDP exporters resend theirs; RFC 7011 §8.4).
 */

/** One field of a template: the information element, its length in the record (VARIABLE: RFC 7011 §7). */
export interface TemplateField {
  id: number;
  /** 0 for IANA elements; the private enterprise number otherwise (RFC 7011 §3.2). */
  enterprise: number;
  length: number;
}

export const VARIABLE_LENGTH = 0xffff;

export interface Template {
  fields: TemplateField[];
  /** An options template (RFC 7011 §3.4.2.2): its records describe the exporter, not flows. */
  options: boolean;
  /** The record length, or -1 when a field has variable length. */
  recordLength: number;
  /** Smallest possible record length (variable fields at one length byte). */
  minimumLength: number;
  refreshedAt: number;
  /** The decoder's plans for this layout (netflow-decoder.ts), made at the first data record. */
  plan?: unknown;
}

export const MAX_TEMPLATES = 10_000;
export const TEMPLATE_LIFETIME_MS = 30 * 60_000;

export class TemplateCache {
  private readonly templates = new Map<string, Template>();

  constructor(
    private readonly maxTemplates = MAX_TEMPLATES,
    private readonly lifetimeMs = TEMPLATE_LIFETIME_MS,
  ) {}

  get size(): number {
    return this.templates.size;
  }

  /** Stores a template; returns what happened, for the issue counts. */
  set(key: string, fields: TemplateField[], options: boolean, nowMs: number): 'new' | 'refreshed' | 'changed' | 'evicted_oldest' {
    const held = this.templates.get(key);
    let outcome: 'new' | 'refreshed' | 'changed' | 'evicted_oldest' = held ? (sameLayout(held, fields, options) ? 'refreshed' : 'changed') : 'new';
    this.templates.delete(key); // re-inserted last: the map's order is refresh order
    if (!held && this.templates.size >= this.maxTemplates) {
      const oldest = this.templates.keys().next().value as string;
      this.templates.delete(oldest);
      outcome = 'evicted_oldest';
    }
    let fixed = 0;
    let variable = false;
    for (const f of fields) {
      if (f.length === VARIABLE_LENGTH) {
        variable = true;
        fixed += 1;
      } else {
        fixed += f.length;
      }
    }
    // A refresh of the same layout keeps the decoder's plan (exporters resend templates every few messages).
    const plan = held && outcome === 'refreshed' ? held.plan : undefined;
    this.templates.set(key, { fields, options, recordLength: variable ? -1 : fixed, minimumLength: fixed, refreshedAt: nowMs, plan });
    return outcome;
  }

  /** The template, unless it is unknown or expired (an expired one is removed). */
  get(key: string, nowMs: number): Template | undefined {
    const held = this.templates.get(key);
    if (held && nowMs - held.refreshedAt > this.lifetimeMs) {
      this.templates.delete(key);
      return undefined;
    }
    return held;
  }

  /** RFC 7011 §8.1: a template withdrawal. */
  withdraw(key: string): boolean {
    return this.templates.delete(key);
  }
}

function sameLayout(t: Template, fields: TemplateField[], options: boolean): boolean {
  return t.options === options && t.fields.length === fields.length && t.fields.every((f, i) => f.id === fields[i].id && f.length === fields[i].length && f.enterprise === fields[i].enterprise);
}
