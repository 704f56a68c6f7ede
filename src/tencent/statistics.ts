/**
 * The domain of `v4/timpush/normal_push_statistics` and the reading of its answers: how many
 * pushes could be sent, were sent, delivered and clicked, overall and per channel.
 *
 * Tolerant where the documentation leaves room (a missing count is unknown, a count may arrive as
 * a decimal string or exceed 2^31, an undocumented PushPlatform is kept), exact about counts: it
 * never invents, drops or rounds one. Anything else is `invalid` with a reason, and the caller
 * keeps the raw body in the archive.
 */
import { decodeAnswerJson } from './answerJson.ts';
import { ANSWER_LIMITS, type AnswerLimits } from './limits.ts';
import { EMPTY_ENVELOPE, isRecord, readEnvelope, type Envelope } from './response.ts';

/** The four counts of one scope; null when the answer did not give it (unknown, not 0). */
export interface PushCounts {
  total: number | null;
  sent: number | null;
  delivered: number | null;
  click: number | null;
}

/** One answer: the top-level counts and one line per channel (`PlatformStatistics[]`). */
export interface PushStatistics {
  overall: PushCounts;
  platforms: Array<PushCounts & { platform: number }>;
}

export type ParsedStatsBody =
  | { kind: 'ok'; envelope: Envelope; stats: PushStatistics }
  | { kind: 'api_error'; envelope: Envelope & { errorCode: number } }
  | { kind: 'invalid'; envelope: Envelope; reason: string };

const COUNT_FIELDS = [
  ['TotalCount', 'total'],
  ['SentCount', 'sent'],
  ['DeliveredCount', 'delivered'],
  ['ClickCount', 'click'],
] as const satisfies ReadonlyArray<readonly [string, keyof PushCounts]>;

/** `platform` is a smallint column. */
const MAX_PLATFORM = 32_767;

/** Parses a response body text; `secrets` are scrubbed from every decoded string. Never throws. */
export function parseStatisticsBody(
  text: string,
  secrets: readonly string[] = [],
  limits: Pick<AnswerLimits, 'maxEntries'> = ANSWER_LIMITS,
): ParsedStatsBody {
  // The same bound as loss answers.
  const decoded = decodeAnswerJson(text, ANSWER_LIMITS.maxJsonDepth, secrets);
  if ('reason' in decoded) return { kind: 'invalid', envelope: EMPTY_ENVELOPE, reason: decoded.reason };
  return parseStatisticsJson(decoded.json, limits);
}

/** Parses an already decoded JSON value. Never throws. */
export function parseStatisticsJson(
  json: unknown,
  limits: Pick<AnswerLimits, 'maxEntries'> = ANSWER_LIMITS,
): ParsedStatsBody {
  const checked = readEnvelope(json);
  if (checked.kind !== 'ok') return checked;
  const { envelope } = checked;
  const container = findCounts(checked.body);
  if (typeof container === 'string') return { kind: 'invalid', envelope, reason: container };

  // The loss answers' cap on entries, counted before any is read: each channel is a row loaded.
  const list = container.PlatformStatistics;
  if (Array.isArray(list) && list.length > limits.maxEntries) {
    const reason = `the answer lists ${list.length} channels, more than the ${limits.maxEntries} pushloss accepts`;
    return { kind: 'invalid', envelope, reason };
  }
  const stats = readStatisticsScope(
    container,
    () => ({}),
    (line) => line.platform,
  );
  if (typeof stats === 'string') return { kind: 'invalid', envelope, reason: stats };
  return { kind: 'ok', envelope, stats };
}

/**
 * The counts of one scope: its own four counts and its `PlatformStatistics[]`, each line read by
 * `readMore` for fields beyond PushPlatform and the counts (which says why a line is refused).
 * Lines with the same `keyOf` are one channel listed twice: not documented to happen, so their
 * counts are added, never dropped. Returns why the scope is refused, if it is. Never throws.
 */
export function readStatisticsScope<X extends object>(
  container: Record<string, unknown>,
  readMore: (item: Record<string, unknown>) => X | string,
  keyOf: (line: PushCounts & { platform: number } & X) => string | number,
): { overall: PushCounts; platforms: Array<PushCounts & { platform: number } & X> } | string {
  const overall = readCounts(container);
  if (typeof overall === 'string') return overall;

  const list = container.PlatformStatistics;
  const platforms = new Map<string | number, PushCounts & { platform: number } & X>();
  if (list !== undefined && list !== null) {
    if (!Array.isArray(list)) return 'PlatformStatistics is not an array';
    for (const [index, item] of list.entries()) {
      const where = `PlatformStatistics[${index}]`;
      if (!isRecord(item)) return `${where}: not an object`;
      const platform = readInteger(item.PushPlatform);
      if (platform === null || platform === undefined || platform > MAX_PLATFORM) {
        return `${where}: PushPlatform is not a small non-negative integer`;
      }
      const counts = readCounts(item);
      if (typeof counts === 'string') return `${where}: ${counts}`;
      const more = readMore(item);
      if (typeof more === 'string') return `${where}: ${more}`;
      const line = { ...more, platform, ...counts };
      const seen = platforms.get(keyOf(line));
      if (!seen) {
        platforms.set(keyOf(line), line);
        continue;
      }
      for (const [, key] of COUNT_FIELDS) {
        const a = seen[key];
        const b = counts[key];
        const sum = a === null || b === null ? null : a + b;
        if (sum !== null && !Number.isSafeInteger(sum)) return `${where}: the summed ${key} count exceeds 2^53`;
        seen[key] = sum;
      }
    }
  }
  return { overall, platforms: [...platforms.values()] };
}

/**
 * The counts sit at the top level (documented: flat, no wrapper), or, like loss's documented
 * sample, inside one nested object. Two nested candidates would be a guess, so that is invalid.
 */
function findCounts(json: Record<string, unknown>): Record<string, unknown> | string {
  const holdsCounts = (value: Record<string, unknown>) =>
    'PlatformStatistics' in value || COUNT_FIELDS.some(([field]) => field in value);
  if (holdsCounts(json)) return json;
  const nested = Object.values(json).filter((value) => isRecord(value) && holdsCounts(value));
  if (nested.length > 1) return 'statistics found in more than one nested object';
  return (nested[0] as Record<string, unknown> | undefined) ?? json;
}

function readCounts(item: Record<string, unknown>): PushCounts | string {
  const counts: PushCounts = { total: null, sent: null, delivered: null, click: null };
  for (const [field, key] of COUNT_FIELDS) {
    const value = readInteger(item[field]);
    if (value === null) return `${field} is not a non-negative integer below 2^53`;
    counts[key] = value ?? null;
  }
  return counts;
}

/**
 * A non-negative safe integer from a JSON number or a decimal string; undefined when absent
 * (missing or null), null when present but not such an integer.
 */
function readInteger(value: unknown): number | null | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : null;
  if (typeof value === 'string' && /^\d{1,16}$/.test(value.trim())) {
    const number = Number(value.trim());
    return Number.isSafeInteger(number) ? number : null;
  }
  return null;
}
