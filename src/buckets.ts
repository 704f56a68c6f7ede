/**
 * Bucket arithmetic: which local day or hour an instant falls in, in an IANA time zone.
 *
 * The API's samples ask for whole days on Beijing time (UTC+8 midnights), so the default zone is
 * Asia/Shanghai. Buckets follow the zone's real clock: a local day is midnight to midnight (23 or
 * 25 hours on DST days), an hour bucket is a real hour that starts on a local hour (on the night
 * clocks go back, 01:00-02:00 happens twice and is two buckets; the skipped hour does not exist).
 *
 * Computed with Intl only. Windows are in unix seconds, `start` inclusive, `end` exclusive (the
 * `Window` of the API); instants given to these functions are milliseconds.
 */
import type { Window } from './tencent/loss.ts';

/** How long one bucket is: a local day, or a local hour. */
export type BucketSize = '1d' | '1h';

/** The bucket sizes, for validation and CLI help. */
export const BUCKET_SIZES: readonly BucketSize[] = ['1d', '1h'];

/** The zone the API's own day boundaries suggest (Beijing time). */
export const DEFAULT_TIME_ZONE = 'Asia/Shanghai';

const SECOND = 1000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** A day in milliseconds: the margin of the "leaves the horizon soon" warning, and status's unit. */
export const DAY_MS = DAY;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    formatters.set(timeZone, format);
  }
  return format;
}

/** True if `timeZone` is an IANA zone name this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The local wall-clock time of an instant, as if it were UTC (ms, whole seconds). */
function wallClock(instantMs: number, timeZone: string): number {
  const parts: Record<string, string> = {};
  for (const part of formatter(timeZone).formatToParts(floorTo(instantMs, SECOND))) parts[part.type] = part.value;
  let year = Number(parts.year);
  if (parts.era === 'BC' || parts.era === 'B') year = 1 - year;
  const wall = Date.UTC(
    year,
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  // Date.UTC maps years 0..99 to 1900..1999; correct for that (never hit by real data).
  return year >= 0 && year < 100 ? new Date(wall).setUTCFullYear(year) : wall;
}

/** The zone's UTC offset at an instant, in ms (UTC+8 → 28_800_000). */
export function utcOffsetMs(instantMs: number, timeZone: string): number {
  const instant = floorTo(instantMs, SECOND);
  return wallClock(instant, timeZone) - instant;
}

/** A calendar date in the zone. */
export interface LocalDate {
  year: number;
  month: number; // 1..12
  day: number;
}

/** The local calendar date of an instant. */
export function localDateOf(instantMs: number, timeZone: string): LocalDate {
  const wall = new Date(wallClock(instantMs, timeZone));
  return { year: wall.getUTCFullYear(), month: wall.getUTCMonth() + 1, day: wall.getUTCDate() };
}

/** `YYYY-MM-DD` of the local date of an instant. */
export function formatLocalDate(instantMs: number, timeZone: string): string {
  const { year, month, day } = localDateOf(instantMs, timeZone);
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** `YYYY-MM-DD HH:MM`: the local wall-clock time of an instant, to the minute. */
export function formatLocalMinute(instantMs: number, timeZone: string): string {
  return new Date(wallClock(instantMs, timeZone)).toISOString().slice(0, 16).replace('T', ' ');
}

/**
 * The first instant (ms) of a local calendar day. Normally local midnight; if midnight occurs
 * twice, the first one; if midnight is skipped by a DST jump, the instant of the jump.
 */
export function startOfLocalDay(date: LocalDate, timeZone: string): number {
  const wall = Date.UTC(date.year, date.month - 1, date.day);
  const before = utcOffsetMs(wall - DAY, timeZone);
  const after = utcOffsetMs(wall + DAY, timeZone);
  const candidates = [wall - before, wall - after].filter((t) => wallClock(t, timeZone) === wall);
  if (candidates.length > 0) return Math.min(...candidates);
  // Midnight falls in a gap: the day begins at the transition, between these two instants.
  return firstOffsetChange(wall - after, wall - before, timeZone);
}

/** The local day or hour bucket containing an instant, as a window in unix seconds. */
export function bucketContaining(instantMs: number, size: BucketSize, timeZone: string = DEFAULT_TIME_ZONE): Window {
  const instant = floorTo(instantMs, SECOND);
  if (size === '1d') {
    const { year, month, day } = localDateOf(instant, timeZone);
    return toWindow(
      startOfLocalDay({ year, month, day }, timeZone),
      startOfLocalDay(nextDay({ year, month, day }), timeZone),
    );
  }
  if (size === '1h') {
    const offset = utcOffsetMs(instant, timeZone);
    const local = instant + offset;
    let start = floorTo(local, HOUR) - offset;
    let end = floorTo(local, HOUR) + HOUR - offset;
    // An offset change inside this local hour (e.g. a 30-minute DST shift) cuts it short.
    if (utcOffsetMs(start, timeZone) !== offset) start = firstOffsetChange(start, instant, timeZone);
    if (utcOffsetMs(end - SECOND, timeZone) !== offset) end = firstOffsetChange(instant, end - SECOND, timeZone);
    return toWindow(start, end);
  }
  throw new RangeError(`unknown bucket size ${JSON.stringify(size)}; expected one of ${BUCKET_SIZES.join(', ')}`);
}

/** Every bucket that overlaps `[fromMs, toMs)`, in order (empty if `toMs <= fromMs`). */
export function bucketsOverlapping(
  fromMs: number,
  toMs: number,
  size: BucketSize,
  timeZone: string = DEFAULT_TIME_ZONE,
  limit = 100_000,
): Window[] {
  const buckets: Window[] = [];
  if (!(toMs > fromMs)) return buckets;
  let bucket = bucketContaining(fromMs, size, timeZone);
  while (bucket.start * SECOND < toMs) {
    if (buckets.length >= limit)
      throw new RangeError(
        `more than ${limit} ${size} buckets between ${new Date(fromMs).toISOString()} and ${new Date(toMs).toISOString()}`,
      );
    buckets.push(bucket);
    bucket = bucketContaining(bucket.end * SECOND, size, timeZone);
  }
  return buckets;
}

/** The calendar day after `date` (proleptic Gregorian, zone-free). */
export function nextDay({ year, month, day }: LocalDate): LocalDate {
  const next = new Date(Date.UTC(year, month - 1, day + 1));
  return { year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate() };
}

/** First whole second in `(lo, hi]` whose offset differs from the offset at `lo`. */
function firstOffsetChange(lo: number, hi: number, timeZone: string): number {
  const initial = utcOffsetMs(lo, timeZone);
  let low = floorTo(lo, SECOND);
  let high = floorTo(hi, SECOND);
  while (high - low > SECOND) {
    const mid = low + floorTo((high - low) / 2, SECOND);
    if (utcOffsetMs(mid, timeZone) === initial) low = mid;
    else high = mid;
  }
  return high;
}

function toWindow(startMs: number, endMs: number): Window {
  return { start: startMs / SECOND, end: endMs / SECOND };
}

function floorTo(value: number, unit: number): number {
  return Math.floor(value / unit) * unit;
}

/** The first bucket the API can still answer in full: it starts at or after the horizon. */
export function firstReachableBucket(
  nowMs: number,
  horizonSeconds: number,
  size: BucketSize,
  timeZone: string,
): Window {
  const horizonMs = nowMs - horizonSeconds * SECOND;
  const containing = bucketContaining(horizonMs, size, timeZone);
  return containing.start * SECOND >= horizonMs
    ? containing
    : bucketContaining(containing.end * SECOND, size, timeZone);
}

/**
 * How close to the horizon a bucket's start may be for a 90100 (invalid parameters) to mean
 * "too old by now" rather than a broken configuration: the time a call can queue for its rate
 * slot in a large pass, plus any difference between our clock and Tencent's.
 */
const HORIZON_EDGE_MS = 15 * 60_000;

export function atHorizonEdge(bucket: Window, nowMs: number, horizonSeconds: number): boolean {
  return bucket.start * SECOND < nowMs - horizonSeconds * SECOND + HORIZON_EDGE_MS;
}
