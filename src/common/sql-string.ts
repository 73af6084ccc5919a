/** SQL string literal with quotes doubled (SQL:2016 §5.3 <character string literal>). */
export function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
