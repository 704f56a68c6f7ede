/**
 * Aligned plain-text tables for a terminal. Error descriptions from the API are often Chinese, and
 * a CJK character takes two terminal columns: padding by string length would skew every column
 * after it, so widths are measured in terminal columns (string-width: East Asian width, emoji,
 * combining marks).
 */
import stringWidth from 'string-width';

export interface TextColumn {
  header: string;
  /** Numbers read best right-aligned. Default left. */
  align?: 'left' | 'right';
}

/**
 * Renders a header, a dashed rule and the rows, columns separated by two spaces. Control
 * characters (a newline in a description) become spaces so one row stays one line; trailing
 * spaces are trimmed. Returns the lines without line breaks.
 */
export function textTable(columns: readonly TextColumn[], rows: ReadonlyArray<readonly string[]>): string[] {
  const cells = [columns.map((c) => c.header), ...rows].map((row) => row.map(oneLine));
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => stringWidth(row[i] ?? ''))));
  const render = (row: readonly string[]) =>
    row
      .map((cell, i) => {
        const pad = ' '.repeat(widths[i]! - stringWidth(cell));
        return columns[i]!.align === 'right' ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
  const [header, ...body] = cells;
  return [render(header!), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(render)];
}

function oneLine(text: string): string {
  return text.replace(/[\p{Cc}\u2028\u2029]/gu, ' ');
}
