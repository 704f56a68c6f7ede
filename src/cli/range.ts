/**
 * CLI ranges (`backfill --from … --to …`): bare local dates or instants with an offset, read in the
 * bucket time zone.
 */
import { DEFAULT_TIME_ZONE, nextDay, startOfLocalDay } from '../buckets.ts';

/**
 * Reads one end of a CLI range. A bare date `YYYY-MM-DD` means that whole local day in the zone:
 * as `'from'` its first instant, as `'to'` the first instant of the NEXT day (both ends of a
 * day range are inclusive). A date-time with `Z` or an offset (`2025-03-12T08:00:00+08:00`) is an
 * instant used as is (`--to` exclusive). A date-time without an offset is refused as ambiguous.
 * Returns milliseconds since the epoch.
 */
export function parseDayOrInstant(text: string, edge: 'from' | 'to', timeZone: string = DEFAULT_TIME_ZONE): number {
  const trimmed = text.trim();
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(trimmed);
  if (day) {
    const date = { year: Number(day[1]), month: Number(day[2]), day: Number(day[3]) };
    const check = new Date(Date.UTC(date.year, date.month - 1, date.day));
    if (
      check.getUTCFullYear() !== date.year ||
      check.getUTCMonth() + 1 !== date.month ||
      check.getUTCDate() !== date.day
    ) {
      throw new RangeError(`"${text}" is not a calendar date`);
    }
    return startOfLocalDay(edge === 'from' ? date : nextDay(date), timeZone);
  }
  const instant = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}(?::?\d{2})?)$/i.exec(
    trimmed,
  );
  if (instant) {
    const offset = instant[3]!.toUpperCase() === 'Z' ? 'Z' : normalizeOffset(instant[3]!);
    const ms = Date.parse(`${instant[1]}T${instant[2]}${offset}`);
    if (Number.isNaN(ms)) throw new RangeError(`"${text}" is not a valid date-time`);
    return ms;
  }
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(trimmed)) {
    throw new RangeError(
      `"${text}" has no time zone: add Z or an offset such as +08:00, or give a bare date YYYY-MM-DD`,
    );
  }
  throw new RangeError(
    `"${text}" is neither a date YYYY-MM-DD (a whole day in ${timeZone}) nor an instant such as 2025-03-12T08:00:00+08:00`,
  );
}

/** Both ends of a CLI range (see {@link parseDayOrInstant}); throws if it is empty or reversed. */
export function parseRange(
  fromText: string,
  toText: string,
  timeZone: string = DEFAULT_TIME_ZONE,
): { fromMs: number; toMs: number } {
  const fromMs = parseDayOrInstant(fromText, 'from', timeZone);
  const toMs = parseDayOrInstant(toText, 'to', timeZone);
  if (!(toMs > fromMs)) throw new RangeError(`the range ${fromText} .. ${toText} is empty: --to must be after --from`);
  return { fromMs, toMs };
}

function normalizeOffset(offset: string): string {
  const digits = offset.slice(1).replace(':', '');
  return `${offset[0]}${digits.slice(0, 2)}:${digits.slice(2).padEnd(2, '0')}`;
}
