/**
 * The domain of the task-push APIs `v4/timpush/all_member_push_loss` and
 * `all_member_push_statistics`, and the reading of their answers. They answer for pushes sent
 * with `v4/timpush/push` / `batch` (all-user, tag and single pushes, each identified by a TaskID):
 * `Results[]`, one object per asked TaskID, holding what `normal_push_loss` and
 * `normal_push_statistics` hold for chat pushes, with an `EventType` (1 offline push, 2 online
 * push) on the per-channel lines. An empty TaskID list asks for the overall numbers.
 *
 * The same rules as response.ts and statistics.ts: never throws; tolerant where the documentation
 * leaves room, exact about counts and about which task a count belongs to. Every decoded string is
 * scrubbed of secrets and storable (answerJson.ts); the entries of all results together are capped
 * like one loss answer's.
 */
import { decodeAnswerJson } from './answerJson.ts';
import { ANSWER_LIMITS, truncateDescription, type AnswerLimits } from './limits.ts';
import { LOSS_ARRAYS, type LossEntry } from './loss.ts';
import {
  EMPTY_ENVELOPE,
  countLossEntries,
  isRecord,
  readEnvelope,
  readLossArrays,
  readLossEntry,
  type Envelope,
} from './response.ts';
import { readStatisticsScope, type PushCounts } from './statistics.ts';

/** The documented maximum of TaskIDs in one request. */
export const MAX_TASK_IDS = 5;

/** A loss line of a task push: `eventType` 1 offline, 2 online; null on the overall arrays or when not given. */
export interface TaskLossEntry extends LossEntry {
  eventType: number | null;
}

/** The loss of one task (`taskId`), or the overall loss of all task pushes (`taskId` null). */
export interface TaskLoss {
  taskId: string | null;
  entries: TaskLossEntry[];
}

/** One channel line of a task push's statistics. */
export interface TaskPlatformCounts extends PushCounts {
  platform: number;
  eventType: number | null;
}

/** The statistics of one task (`taskId`), or the overall statistics of all task pushes (`taskId` null). */
export interface TaskStatistics {
  taskId: string | null;
  overall: PushCounts;
  platforms: TaskPlatformCounts[];
}

type Failed =
  | { kind: 'api_error'; envelope: Envelope & { errorCode: number } }
  | { kind: 'invalid'; envelope: Envelope; reason: string };

/** One result per asked TaskID in the order asked (one with `taskId` null for an empty list). */
export type ParsedTaskLossBody = { kind: 'ok'; envelope: Envelope; results: TaskLoss[] } | Failed;
/** One result per asked TaskID in the order asked (one with `taskId` null for an empty list). */
export type ParsedTaskStatsBody = { kind: 'ok'; envelope: Envelope; results: TaskStatistics[] } | Failed;

type ParseLimits = Pick<AnswerLimits, 'maxEntries' | 'maxJsonDepth'>;

/**
 * Why a TaskID list cannot be sent, or null when it can: at most {@link MAX_TASK_IDS}, each a
 * non-empty string (an empty one would read as "overall" in the answer), none twice (two results
 * for one TaskID could not be told apart).
 */
export function taskIdsProblem(taskIds: readonly unknown[]): string | null {
  if (taskIds.length > MAX_TASK_IDS) return `at most ${MAX_TASK_IDS} task IDs per call, got ${taskIds.length}`;
  const seen = new Set<string>();
  for (const id of taskIds) {
    if (typeof id !== 'string' || id === '') return 'a task ID must be a non-empty string';
    if (seen.has(id)) return `task ID ${JSON.stringify(id)} is listed twice`;
    seen.add(id);
  }
  return null;
}

/** Parses an answer of `all_member_push_loss` to a request for `askedTaskIds`. Never throws. */
export function parseAllMemberLossBody(
  text: string,
  askedTaskIds: readonly string[],
  secrets: readonly string[] = [],
  limits: ParseLimits = ANSWER_LIMITS,
): ParsedTaskLossBody {
  const decoded = decodeAnswerJson(text, limits.maxJsonDepth, secrets);
  if ('reason' in decoded) return { kind: 'invalid', envelope: EMPTY_ENVELOPE, reason: decoded.reason };
  return parseAllMemberLossJson(decoded.json, askedTaskIds, limits);
}

/** Parses an already decoded answer of `all_member_push_loss`. Never throws. */
export function parseAllMemberLossJson(
  json: unknown,
  askedTaskIds: readonly string[],
  limits: Pick<AnswerLimits, 'maxEntries'> = ANSWER_LIMITS,
): ParsedTaskLossBody {
  const checked = readEnvelope(json);
  if (checked.kind !== 'ok') return checked;
  const { envelope } = checked;
  const results = readResults(checked.body, askedTaskIds, {
    fields: LOSS_ARRAYS.map(({ field }) => field),
    count: countLossEntries,
    what: 'entries',
    maxEntries: limits.maxEntries,
    read: (item) => {
      const entries = readLossArrays(item, readTaskLossEntry);
      return typeof entries === 'string' ? entries : { entries };
    },
    empty: () => ({ entries: [] }),
  });
  if (typeof results === 'string') return { kind: 'invalid', envelope, reason: results };
  return { kind: 'ok', envelope, results };
}

/** Parses an answer of `all_member_push_statistics` to a request for `askedTaskIds`. Never throws. */
export function parseAllMemberStatisticsBody(
  text: string,
  askedTaskIds: readonly string[],
  secrets: readonly string[] = [],
  limits: ParseLimits = ANSWER_LIMITS,
): ParsedTaskStatsBody {
  const decoded = decodeAnswerJson(text, limits.maxJsonDepth, secrets);
  if ('reason' in decoded) return { kind: 'invalid', envelope: EMPTY_ENVELOPE, reason: decoded.reason };
  return parseAllMemberStatisticsJson(decoded.json, askedTaskIds, limits);
}

/** Parses an already decoded answer of `all_member_push_statistics`. Never throws. */
export function parseAllMemberStatisticsJson(
  json: unknown,
  askedTaskIds: readonly string[],
  limits: Pick<AnswerLimits, 'maxEntries'> = ANSWER_LIMITS,
): ParsedTaskStatsBody {
  const checked = readEnvelope(json);
  if (checked.kind !== 'ok') return checked;
  const { envelope } = checked;
  const results = readResults(checked.body, askedTaskIds, {
    fields: ['TotalCount', 'SentCount', 'DeliveredCount', 'ClickCount', 'PlatformStatistics'],
    count: (item) => (Array.isArray(item.PlatformStatistics) ? item.PlatformStatistics.length : 0),
    what: 'channels',
    maxEntries: limits.maxEntries,
    // A channel may come once per EventType (PushPlatform 0 is both an unknown vendor offline and
    // online push): the pair is the key; the same pair twice is added up, as statistics.ts does.
    read: (item) => readStatisticsScope(item, readEventTypeField, (line) => `${line.platform}|${line.eventType}`),
    empty: () => ({ overall: { total: null, sent: null, delivered: null, click: null }, platforms: [] }),
  });
  if (typeof results === 'string') return { kind: 'invalid', envelope, reason: results };
  return { kind: 'ok', envelope, results };
}

function readTaskLossEntry(item: unknown, stage: LossEntry['stage'], perPlatform: boolean): TaskLossEntry | string {
  const entry = readLossEntry(item, stage, perPlatform);
  if (typeof entry === 'string') return entry;
  // Only the per-channel arrays carry EventType; the overall arrays sum over both kinds of push.
  if (!perPlatform) return { ...entry, eventType: null };
  const more = readEventTypeField(item as Record<string, unknown>);
  return typeof more === 'string' ? more : { ...entry, ...more };
}

/** `EventType` of a line: null when absent; an integer that fits the smallint column otherwise. */
function readEventTypeField(item: Record<string, unknown>): { eventType: number | null } | string {
  const value = item.EventType;
  if (value === undefined || value === null) return { eventType: null };
  // A decimal string is read like statistics.ts reads its numbers; anything else is not guessed at.
  const number = typeof value === 'string' && /^-?\d{1,5}$/.test(value.trim()) ? Number(value.trim()) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < -32_768 || number > 32_767) {
    return 'EventType is not an integer in -32768..32767';
  }
  return { eventType: number };
}

interface ResultsReader<R> {
  /** The fields of one result, which must not sit beside `Results` in place of it. */
  fields: readonly string[];
  /** How many rows a result would load, counted before any is read. */
  count(item: Record<string, unknown>): number;
  what: string;
  maxEntries: number;
  read(item: Record<string, unknown>): R | string;
  /** The result of a task the answer does not list. */
  empty(): R;
}

/**
 * Matches `Results[]` to the asked TaskIDs: one result per asked task, in the order asked, or
 * one with `taskId` null (the overall numbers) when none was asked. A result for a task not asked,
 * or a task listed twice, is refused: its counts could not be attributed without guessing.
 */
function readResults<R>(
  body: Record<string, unknown>,
  asked: readonly string[],
  reader: ResultsReader<R>,
): Array<{ taskId: string | null } & R> | string {
  const list = findResults(body, reader.fields);
  if (typeof list === 'string') return list;
  const wanted = new Set(asked);
  const overall = wanted.size === 0;
  // Any result beyond one per asked task is one not asked for or one listed twice.
  const expected = Math.max(wanted.size, 1);
  if (list.length > expected) {
    return `Results lists ${list.length} results for ${overall ? 'the overall numbers' : `${wanted.size} task ID(s)`}`;
  }
  const listed = list.reduce<number>((sum, item) => sum + (isRecord(item) ? reader.count(item) : 0), 0);
  if (listed > reader.maxEntries) {
    return `the answer lists ${listed} ${reader.what}, more than the ${reader.maxEntries} pushloss accepts`;
  }

  const found = new Map<string | null, R>();
  for (const [index, item] of list.entries()) {
    const where = `Results[${index}]`;
    if (!isRecord(item)) return `${where}: not an object`;
    const taskId = readTaskId(item.TaskID);
    if (taskId === undefined) return `${where}: TaskID is not a string`;
    const shown = taskId === null ? 'without a TaskID' : `TaskID ${JSON.stringify(truncateDescription(taskId, 100))}`;
    if (found.has(taskId)) return `${where}: a second result ${shown}`;
    if (overall && taskId !== null) return `${where}: ${shown} was not asked for (the overall numbers were)`;
    if (!overall && taskId === null) return `${where}: a result without a TaskID, though task IDs were asked`;
    if (!overall && !wanted.has(taskId!)) return `${where}: ${shown} was not asked for`;
    const value = reader.read(item);
    if (typeof value === 'string') return `${where}: ${value}`;
    found.set(taskId, value);
  }
  // A task the answer does not list has no data. The documentation leaves this open (one object
  // "per TaskID", never what happens to a task with nothing to report); leaving it out is the
  // likeliest way for an API to say so, and an error would lose the other tasks' counts.
  const keys: Array<string | null> = overall ? [null] : [...wanted];
  return keys.map((taskId) => ({ taskId, ...(found.get(taskId) ?? reader.empty()) }));
}

/**
 * `Results` at the top level (documented), or inside one nested object (the loss API's sample
 * nests its arrays). Missing or null is an empty list, unless a result's fields sit where it should
 * be: reading those as "no data" would drop counts without a word.
 */
function findResults(body: Record<string, unknown>, fields: readonly string[]): unknown[] | string {
  let holder: Record<string, unknown> = body;
  if (!('Results' in body)) {
    const nested = Object.values(body).filter((value) => isRecord(value) && 'Results' in value);
    if (nested.length > 1) return 'Results found in more than one nested object';
    if (nested.length === 1) holder = nested[0] as Record<string, unknown>;
  }
  const list = holder.Results;
  if (list === undefined || list === null) {
    const stray = fields.find((field) => field in body);
    return stray === undefined ? [] : `${stray} is given outside Results`;
  }
  return Array.isArray(list) ? list : 'Results is not an array';
}

/** A TaskID: null for the overall result (empty, missing or null), undefined when not a string. */
function readTaskId(value: unknown): string | null | undefined {
  if (value === undefined || value === null || value === '') return null;
  return typeof value === 'string' ? value : undefined;
}
