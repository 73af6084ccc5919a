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

  /**
   * A new code for `value` without looking it up or remembering it for `code`: for a caller that
   * dedups on its own key (AddressDictionary), which spares a string hash per distinct value. The
   * same text may then have two codes; each still reads back as the text.
   */
  add(value: string): number {
    this.values.push(value);
    return this.values.length - 1;
  }

  /** The string of a code; null for -1. */
  value(code: number): string | null {
    return code < 0 ? null : this.values[code];
  }
}
