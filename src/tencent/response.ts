import { decodeAnswerJson } from './answerJson.ts';
import { ANSWER_LIMITS, type AnswerLimits } from './limits.ts';
import { LOSS_ARRAYS, type LossEntry } from './loss.ts';

/**
 * Reads an answer of `normal_push_loss`, tolerant of the shapes the documentation leaves open and
 * exact about counts: it never invents, drops or rounds one. Anything it cannot read without
 * guessing is `invalid` with a reason, and the caller keeps the raw body in the archive.
 */

export interface Envelope {
  actionStatus: string | null;
  errorCode: number | null;
  errorInfo: string | null;
  requestId: string | null;
}

export type ParsedBody =
  | { kind: 'ok'; envelope: Envelope; entries: LossEntry[] }
  | { kind: 'api_error'; envelope: Envelope & { errorCode: number } }
  | { kind: 'invalid'; envelope: Envelope; reason: string };

export const EMPTY_ENVELOPE: Envelope = { actionStatus: null, errorCode: null, errorInfo: null, requestId: null };

type EntryLimits = Pick<AnswerLimits, 'maxEntries' | 'maxJsonDepth'>;

/** Parses a response body text; `secrets` are scrubbed from every decoded string. Never throws. */
export function parsePushLossBody(
  text: string,
  limits: EntryLimits = ANSWER_LIMITS,
  secrets: readonly string[] = [],
): ParsedBody {
  const decoded = decodeAnswerJson(text, limits.maxJsonDepth, secrets);
  if ('reason' in decoded) return { kind: 'invalid', envelope: EMPTY_ENVELOPE, reason: decoded.reason };
  return parsePushLossJson(decoded.json, limits);
}

/** Parses an already decoded JSON value. Never throws. */
export function parsePushLossJson(json: unknown, limits: Pick<AnswerLimits, 'maxEntries'> = ANSWER_LIMITS): ParsedBody {
  const checked = readEnvelope(json);
  if (checked.kind !== 'ok') return checked;
  const { envelope, body } = checked;
  const container = findArrays(body);
  if (typeof container === 'string') return { kind: 'invalid', envelope, reason: container };

  // Counted before any entry is read: a million entries must not become a million facts.
  const listed = countLossEntries(container);
  if (listed > limits.maxEntries) {
    return {
      kind: 'invalid',
      envelope,
      reason: `the answer lists ${listed} entries, more than the ${limits.maxEntries} pushloss accepts`,
    };
  }

  const entries = readLossArrays(container, readLossEntry);
  if (typeof entries === 'string') return { kind: 'invalid', envelope, reason: entries };
  return { kind: 'ok', envelope, entries };
}

/** How many entries the four loss arrays of `container` list, before any is read. */
export function countLossEntries(container: Record<string, unknown>): number {
  return LOSS_ARRAYS.reduce((sum, { field }) => {
    const list = container[field];
    return sum + (Array.isArray(list) ? list.length : 0);
  }, 0);
}

/**
 * The entries of the four loss arrays of `container`, each read by `read` (which says why an item
 * is refused), or the first refusal with its place. A missing or null array is an empty one.
 */
export function readLossArrays<E>(
  container: Record<string, unknown>,
  read: (item: unknown, stage: LossEntry['stage'], perPlatform: boolean) => E | string,
): E[] | string {
  const entries: E[] = [];
  for (const { field, stage, perPlatform } of LOSS_ARRAYS) {
    const list = container[field];
    if (list === undefined || list === null) continue; // a missing array is an empty one
    if (!Array.isArray(list)) return `${field} is not an array`;
    for (const [index, item] of list.entries()) {
      const entry = read(item, stage, perPlatform);
      if (typeof entry === 'string') return `${field}[${index}]: ${entry}`;
      entries.push(entry);
    }
  }
  return entries;
}

/**
 * The envelope every Chat REST answer shares, judged the same way for every API: an error code
 * other than 0 is an API error; anything but ActionStatus "OK" with code 0 (or none) is invalid.
 * On `ok`, `body` is the JSON object, for the API's own fields. Never throws.
 */
export function readEnvelope(
  json: unknown,
):
  | { kind: 'ok'; envelope: Envelope; body: Record<string, unknown> }
  | Extract<ParsedBody, { kind: 'api_error' | 'invalid' }> {
  if (!isRecord(json)) return { kind: 'invalid', envelope: EMPTY_ENVELOPE, reason: 'body is not a JSON object' };

  const envelope: Envelope = {
    actionStatus: typeof json.ActionStatus === 'string' ? json.ActionStatus : null,
    errorCode: toErrorCode(json.ErrorCode),
    errorInfo: typeof json.ErrorInfo === 'string' ? json.ErrorInfo : null,
    requestId: typeof json.RequestId === 'string' ? json.RequestId : null,
  };
  if (json.ErrorCode !== undefined && envelope.errorCode === null) {
    return { kind: 'invalid', envelope, reason: 'ErrorCode is not an integer' };
  }
  if (envelope.errorCode !== null && envelope.errorCode !== 0) {
    return { kind: 'api_error', envelope: { ...envelope, errorCode: envelope.errorCode } };
  }
  if (envelope.actionStatus !== 'OK') {
    // FAIL with ErrorCode 0, or no status at all: nothing tells us the counts can be trusted.
    return {
      kind: 'invalid',
      envelope,
      reason: `ActionStatus is ${JSON.stringify(json.ActionStatus ?? null)}, not "OK"`,
    };
  }
  return { kind: 'ok', envelope, body: json };
}

/**
 * The arrays sit at the top level (the likely real shape), or inside one nested object (the
 * documented sample). Two nested candidates would be a guess, so that is invalid.
 */
function findArrays(json: Record<string, unknown>): Record<string, unknown> | string {
  if (LOSS_ARRAYS.some(({ field }) => field in json)) return json;
  const nested = Object.values(json).filter(
    (value) => isRecord(value) && LOSS_ARRAYS.some(({ field }) => field in value),
  );
  if (nested.length > 1) return 'loss arrays found in more than one nested object';
  return (nested[0] as Record<string, unknown> | undefined) ?? json;
}

/** One item of a loss array, or why it is refused. */
export function readLossEntry(item: unknown, stage: LossEntry['stage'], perPlatform: boolean): LossEntry | string {
  if (!isRecord(item)) return 'not an object';
  const { ErrCode, ErrCount, ErrInfo, PushPlatform } = item;

  let errCode: string;
  if (typeof ErrCode === 'string') errCode = ErrCode;
  else if (typeof ErrCode === 'number' && Number.isSafeInteger(ErrCode)) errCode = String(ErrCode);
  else return 'ErrCode is not a string or integer';

  if (typeof ErrCount !== 'number' || !Number.isSafeInteger(ErrCount) || ErrCount < 0) {
    return 'ErrCount is not a non-negative integer';
  }
  if (ErrInfo !== undefined && ErrInfo !== null && typeof ErrInfo !== 'string') return 'ErrInfo is not a string';

  let platform: number | null = null;
  if (perPlatform) {
    // Unknown vendor numbers are kept as they are: a new channel must not vanish from history.
    if (
      typeof PushPlatform !== 'number' ||
      !Number.isInteger(PushPlatform) ||
      PushPlatform < 0 ||
      PushPlatform > 32767
    ) {
      return 'PushPlatform is not a small non-negative integer';
    }
    platform = PushPlatform;
  }
  return { stage, platform, errCode, errInfo: ErrInfo ?? '', errCount: ErrCount };
}

function toErrorCode(value: unknown): number | null {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d{1,15}$/.test(value)) return Number(value);
  return null;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
