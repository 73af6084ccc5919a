/** Interns strings as small integer codes (null is -1), so columns of repeated text cost 4 bytes a row. */
export class StringDictionary {
  readonly values: string[] = [];
  private readonly codes = new Map<string, number>();

  /** The code of `value`, adding it when new; -1 for null. */
  code(value: string | null): number {
    if (value === null) return -1;
    let code = this.codes.get(value);
    if (code === undefined) {
      code = this.values.length;
      this.values.push(value);
      this.codes.set(value, code);
    }
    return code;
  }

  /** The string of a code; null for -1. */
  value(code: number): string | null {
    return code < 0 ? null : this.values[code];
  }
}
