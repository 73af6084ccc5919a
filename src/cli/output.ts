/** Writes query results as an aligned table, CSV (RFC 4180) or JSON lines. */
import type { CellValue, QueryColumn } from '../query/index.js';

export const OUTPUT_FORMATS = ['table', 'csv', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

const NUMERIC_TYPE = /^(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|DOUBLE|FLOAT|REAL|DECIMAL(\(.*\))?)$/;

/** Text of a value for CSV and tables: nested values as JSON. */
function text(value: CellValue): string {
  return value !== null && typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Streams rows in the chosen format; call `end()` once after the last rows. */
export class ResultWriter {
  private columns: QueryColumn[] = [];
  private headerWritten = false;
  private readonly tableRows: string[][] = [];

  constructor(
    private readonly format: OutputFormat,
    private readonly write: (text: string) => void,
  ) {}

  rows(columns: QueryColumn[], rows: CellValue[][]): void {
    this.columns = columns;
    if (this.format === 'json') {
      let out = '';
      for (const row of rows) {
        const object: Record<string, CellValue> = {};
        columns.forEach((c, i) => (object[c.name] = row[i]));
        out += JSON.stringify(object) + '\n';
      }
      if (out) this.write(out);
    } else if (this.format === 'csv') {
      let out = '';
      if (!this.headerWritten) {
        out += columns.map((c) => csvField(c.name)).join(',') + '\r\n';
        this.headerWritten = true;
      }
      for (const row of rows) out += row.map((v) => (v === null ? '' : csvField(text(v)))).join(',') + '\r\n';
      if (out) this.write(out);
    } else {
      for (const row of rows) this.tableRows.push(row.map((v) => (v === null ? 'NULL' : text(v))));
    }
  }

  end(): void {
    if (this.format !== 'table') return;
    const names = this.columns.map((c) => c.name);
    const widths = names.map((n, i) => Math.max(n.length, ...this.tableRows.map((r) => r[i].length)));
    const numeric = this.columns.map((c) => NUMERIC_TYPE.test(c.type));
    const line = (cells: string[]): string =>
      cells.map((cell, i) => (numeric[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ').trimEnd();
    let out = line(names) + '\n' + widths.map((w) => '-'.repeat(w)).join('  ') + '\n';
    for (const row of this.tableRows) out += line(row) + '\n';
    out += `(${this.tableRows.length} row${this.tableRows.length === 1 ? '' : 's'})\n`;
    this.write(out);
  }
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
