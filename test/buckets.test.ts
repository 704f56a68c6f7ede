import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bucketContaining,
  bucketsOverlapping,
  DEFAULT_TIME_ZONE,
  formatLocalDate,
  formatLocalMinute,
  isValidTimeZone,
} from '../src/buckets.ts';
import { parseDayOrInstant, parseRange } from '../src/cli/range.ts';
import type { Window } from '../src/tencent/loss.ts';

const at = (iso: string) => Date.parse(iso);
const seconds = (iso: string) => Date.parse(iso) / 1000;
const hours = (w: Window) => (w.end - w.start) / 3600;
const iso = (w: Window) => [new Date(w.start * 1000).toISOString(), new Date(w.end * 1000).toISOString()];

describe('day buckets', () => {
  it('in UTC are UTC midnights', () => {
    expect(bucketContaining(at('2025-03-12T23:59:59.999Z'), '1d', 'UTC')).toEqual({
      start: seconds('2025-03-12T00:00:00Z'),
      end: seconds('2025-03-13T00:00:00Z'),
    });
  });

  it('in Asia/Shanghai (the default) match the API sample window', () => {
    // The document's sample: StartTime 1741708800, EndTime 1741795200 = 2025-03-12 on Beijing time.
    const bucket = bucketContaining(at('2025-03-12T10:00:00+08:00'), '1d');
    expect(DEFAULT_TIME_ZONE).toBe('Asia/Shanghai');
    expect(bucket).toEqual({ start: 1741708800, end: 1741795200 });
    // Local midnight belongs to the day it starts; one second before, to the previous day.
    expect(bucketContaining(1741708800_000, '1d').start).toBe(1741708800);
    expect(bucketContaining(1741708799_000, '1d').end).toBe(1741708800);
  });

  it('in America/New_York are 23 h on the spring-forward day and 25 h on the fall-back day', () => {
    const spring = bucketContaining(at('2025-03-09T12:00:00Z'), '1d', 'America/New_York');
    expect(iso(spring)).toEqual(['2025-03-09T05:00:00.000Z', '2025-03-10T04:00:00.000Z']);
    expect(hours(spring)).toBe(23);
    const fall = bucketContaining(at('2025-11-02T12:00:00Z'), '1d', 'America/New_York');
    expect(iso(fall)).toEqual(['2025-11-02T04:00:00.000Z', '2025-11-03T05:00:00.000Z']);
    expect(hours(fall)).toBe(25);
  });

  it('in Europe/Berlin follow the last-Sunday transitions', () => {
    expect(hours(bucketContaining(at('2025-03-30T12:00:00Z'), '1d', 'Europe/Berlin'))).toBe(23);
    expect(hours(bucketContaining(at('2025-10-26T12:00:00Z'), '1d', 'Europe/Berlin'))).toBe(25);
    expect(hours(bucketContaining(at('2025-10-27T12:00:00Z'), '1d', 'Europe/Berlin'))).toBe(24);
  });

  it('start at the jump when midnight itself is skipped (America/Santiago)', () => {
    // 2024-09-08: clocks jump from 00:00 to 01:00; the day starts at 01:00 -03.
    const day = bucketContaining(at('2024-09-08T12:00:00Z'), '1d', 'America/Santiago');
    expect(iso(day)).toEqual(['2024-09-08T04:00:00.000Z', '2024-09-09T03:00:00.000Z']);
  });
});

describe('hour buckets', () => {
  it('are real hours across the New York fall-back night (01:00-02:00 happens twice)', () => {
    const buckets = bucketsOverlapping(
      at('2025-11-02T04:00:00Z'),
      at('2025-11-02T08:00:00Z'),
      '1h',
      'America/New_York',
    );
    expect(buckets.map(hours)).toEqual([1, 1, 1, 1]);
    expect(buckets.map((b) => new Date(b.start * 1000).toISOString())).toEqual([
      '2025-11-02T04:00:00.000Z', // 00:00 EDT
      '2025-11-02T05:00:00.000Z', // 01:00 EDT
      '2025-11-02T06:00:00.000Z', // 01:00 EST, the second one
      '2025-11-02T07:00:00.000Z', // 02:00 EST
    ]);
  });

  it('skip the hour that does not exist on the spring-forward night', () => {
    // 2025-03-09 in New York: 00:00, 01:00, then 03:00 (02:00-03:00 never happens).
    const buckets = bucketsOverlapping(
      at('2025-03-09T05:00:00Z'),
      at('2025-03-09T08:00:00Z'),
      '1h',
      'America/New_York',
    );
    expect(buckets.map((b) => formatLocalDate(b.start * 1000, 'America/New_York'))).toEqual([
      '2025-03-09',
      '2025-03-09',
      '2025-03-09',
    ]);
    expect(buckets.map(hours)).toEqual([1, 1, 1]);
    expect(new Date(buckets[2]!.start * 1000).toISOString()).toBe('2025-03-09T07:00:00.000Z'); // 03:00 EDT
    // How `status` labels hour buckets: the local wall-clock hour, the missing 02:00 skipped.
    expect(buckets.map((b) => formatLocalMinute(b.start * 1000, 'America/New_York'))).toEqual([
      '2025-03-09 00:00',
      '2025-03-09 01:00',
      '2025-03-09 03:00',
    ]);
  });

  it('start on local hours in a half-hour zone (Asia/Kolkata)', () => {
    expect(iso(bucketContaining(at('2025-03-12T03:10:00Z'), '1h', 'Asia/Kolkata'))).toEqual([
      '2025-03-12T02:30:00.000Z',
      '2025-03-12T03:30:00.000Z',
    ]);
  });

  it('make 23 and 25 of a DST day in Berlin', () => {
    const spring = bucketContaining(at('2025-03-30T12:00:00Z'), '1d', 'Europe/Berlin');
    expect(bucketsOverlapping(spring.start * 1000, spring.end * 1000, '1h', 'Europe/Berlin')).toHaveLength(23);
    const fall = bucketContaining(at('2025-10-26T12:00:00Z'), '1d', 'Europe/Berlin');
    expect(bucketsOverlapping(fall.start * 1000, fall.end * 1000, '1h', 'Europe/Berlin')).toHaveLength(25);
  });
});

describe('bucketsOverlapping', () => {
  it('returns every bucket touching [from, to), partial ones included', () => {
    const days = bucketsOverlapping(at('2025-03-12T12:00:00+08:00'), at('2025-03-14T00:00:01+08:00'), '1d');
    expect(days.map((d) => formatLocalDate(d.start * 1000, DEFAULT_TIME_ZONE))).toEqual([
      '2025-03-12',
      '2025-03-13',
      '2025-03-14',
    ]);
    expect(bucketsOverlapping(at('2025-03-12T00:00:00Z'), at('2025-03-12T00:00:00Z'), '1d', 'UTC')).toEqual([]);
  });

  it('tiles time without gaps or overlaps, each bucket containing its instants (property)', () => {
    const zones = [
      'UTC',
      'Asia/Shanghai',
      'America/New_York',
      'Europe/Berlin',
      'Asia/Kolkata',
      'Australia/Lord_Howe',
      'America/Santiago',
    ];
    fc.assert(
      fc.property(
        fc.integer({ min: Date.parse('2000-01-01T00:00:00Z'), max: Date.parse('2035-01-01T00:00:00Z') }),
        fc.constantFrom(...zones),
        fc.constantFrom('1d' as const, '1h' as const),
        (instant, zone, size) => {
          const bucket = bucketContaining(instant, size, zone);
          expect(bucket.start * 1000).toBeLessThanOrEqual(instant);
          expect(bucket.end * 1000).toBeGreaterThan(instant);
          expect(bucketContaining(bucket.end * 1000, size, zone).start).toBe(bucket.end);
          expect(bucketContaining(bucket.start * 1000 - 1, size, zone).end).toBe(bucket.start);
          expect(bucketContaining(bucket.start * 1000, size, zone)).toEqual(bucket);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('parseDayOrInstant / parseRange', () => {
  it('reads a bare date as the whole local day, both ends inclusive', () => {
    expect(parseDayOrInstant('2025-03-12', 'from')).toBe(1741708800_000);
    expect(parseDayOrInstant('2025-03-12', 'to')).toBe(1741795200_000);
    expect(parseRange('2025-03-12', '2025-03-12')).toEqual({ fromMs: 1741708800_000, toMs: 1741795200_000 });
    expect(parseRange('2025-03-09', '2025-03-09', 'America/New_York')).toEqual({
      fromMs: at('2025-03-09T05:00:00Z'),
      toMs: at('2025-03-10T04:00:00Z'),
    });
  });

  it('reads a date-time with Z or an offset as an instant', () => {
    expect(parseDayOrInstant('2025-03-12T08:00:00+08:00', 'to')).toBe(at('2025-03-12T00:00:00Z'));
    expect(parseDayOrInstant('2025-03-12T08:00+0800', 'from')).toBe(at('2025-03-12T00:00:00Z'));
    expect(parseDayOrInstant('2025-03-12 00:00:00Z', 'from')).toBe(at('2025-03-12T00:00:00Z'));
    expect(parseDayOrInstant('2025-03-12T00:00:00.5z', 'from')).toBe(at('2025-03-12T00:00:00.500Z'));
  });

  it('refuses ambiguous or invalid input with a message saying what to write', () => {
    expect(() => parseDayOrInstant('2025-03-12T08:00:00', 'from')).toThrow(/no time zone: add Z or an offset/);
    expect(() => parseDayOrInstant('2025-02-30', 'from')).toThrow(/not a calendar date/);
    expect(() => parseDayOrInstant('yesterday', 'from')).toThrow(/neither a date YYYY-MM-DD/);
    expect(() => parseRange('2025-03-12', '2025-03-11')).toThrow(/empty/);
  });

  it('validates zone names', () => {
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
  });
});
