/** Writes query results as an aligned table, CSV (RFC 4180) or JSON lines. */
import type { CellValue, QueryColumn } from '../query/index.js';

export const OUTPUT_FORMATS = ['table', 'csv', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

const NUMERIC_TYPE = /INT|DOUBLE|FLOAT|DECIMAL|REAL|NUMERIC/;

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
      let text = '';
      for (const row of rows) {
        const object: Record<string, CellValue> = {};
        columns.forEach((c, i) => (object[c.name] = row[i]));
        text += JSON.stringify(object) + '\n';
      }
      if (text) this.write(text);
    } else if (this.format === 'csv') {
      let text = '';
      if (!this.headerWritten) {
        text += columns.map((c) => csvField(c.name)).join(',') + '\r\n';
        this.headerWritten = true;
      }
      for (const row of rows) text += row.map((v) => (v === null ? '' : csvField(String(v)))).join(',') + '\r\n';
      if (text) this.write(text);
    } else {
      for (const row of rows) this.tableRows.push(row.map((v) => (v === null ? 'NULL' : String(v))));
    }
  }

  end(): void {
    if (this.format !== 'table') return;
    const names = this.columns.map((c) => c.name);
    const widths = names.map((n, i) => Math.max(n.length, ...this.tableRows.map((r) => r[i].length)));
    const numeric = this.columns.map((c) => NUMERIC_TYPE.test(c.type));
    const line = (cells: string[]): string =>
      cells.map((cell, i) => (numeric[i] ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ').trimEnd();
    let text = line(names) + '\n' + widths.map((w) => '-'.repeat(w)).join('  ') + '\n';
    for (const row of this.tableRows) text += line(row) + '\n';
    text += `(${this.tableRows.length} row${this.tableRows.length === 1 ? '' : 's'})\n`;
    this.write(text);
  }
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
