/**
 * CSV as RFC 4180 has it: CRLF after every record, a field quoted when it holds a comma, a
 * double quote, CR or LF, and a double quote inside a quoted field written twice. Nothing else is
 * altered (no trimming, no formula escaping): the file is data for tools, read back exactly.
 */

/** One field, quoted only when it must be. null and undefined are empty fields. */
export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** Header and records, each ended by CRLF. */
export function csvDocument(
  header: readonly string[],
  records: ReadonlyArray<ReadonlyArray<string | number | null | undefined>>,
): string {
  return [header, ...records].map((record) => record.map(csvField).join(',') + '\r\n').join('');
}
