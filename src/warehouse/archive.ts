/**
 * The raw archive (`feed_call`): every exchange with every API, kept verbatim so facts can be
 * rebuilt later without the API, whose horizon (7 or 30 days) makes old answers unrepeatable.
 */
import type { Kysely } from 'kysely';
import type { Database, NewFeedCall } from '../db/database.ts';
import type { FeedName } from '../tencent/apis.ts';
import { storableText, truncateDescription } from '../tencent/limits.ts';
import type { CallRecord } from '../tencent/loss.ts';

/** A text field of the envelope, storable (no U+0000) and of bounded length. */
const envelopeText = (text: string | null) => (text === null ? null : truncateDescription(storableText(text)));

/** The `feed_call` row of a call record of `feed` (no secret: CallRecord holds none). */
export function toFeedCallRow(feed: FeedName, call: CallRecord): NewFeedCall {
  return {
    sdkappid: call.sdkappid,
    feed,
    window_start: new Date(call.window.start * 1000),
    window_end: new Date(call.window.end * 1000),
    started_at: new Date(call.startedAt),
    duration_ms: Math.max(0, Math.round(call.durationMs)),
    attempt: call.attempt,
    host: call.host,
    http_status: call.httpStatus,
    action_status: envelopeText(call.actionStatus),
    error_code: call.errorCode,
    error_info: envelopeText(call.errorInfo),
    request_id: envelopeText(call.requestId),
    body: call.body === null ? null : storableText(call.body),
    body_raw: call.bodyRaw ?? null,
    body_bytes: call.bodyBytes ?? null,
    body_truncated: call.bodyTruncated ?? false,
    outcome: call.outcome,
  };
}

/**
 * Archives one call of `feed` and returns its id. Use it for calls that load nothing (failed,
 * rate-limited, unreadable); a successful call is archived by `loadBucket` in the same
 * transaction as its facts.
 */
export async function archiveCall(db: Kysely<Database>, feed: FeedName, call: CallRecord): Promise<number> {
  const { id } = await db
    .insertInto('feed_call')
    .values(toFeedCallRow(feed, call))
    .returning('id')
    .executeTakeFirstOrThrow();
  return id;
}

/**
 * A statement refused for the data it carried (SQLSTATE class 22, data exception, e.g. a text
 * PostgreSQL cannot hold; class 54, a value over a limit; 08P01, a statement the protocol cannot
 * carry, such as one over 65,535 bind parameters): this answer cannot be loaded, but the
 * database is fine, so the app goes on with its other buckets.
 */
export function isDataRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (/^(22|54)[0-9A-Z]{3}$/.test(code) || code === '08P01');
}

/**
 * Archives an answer the warehouse would not load. Should even its row be refused, the answer is
 * kept as bytes only, with the envelope's texts left out: the raw answer is never lost.
 */
export async function archiveSafely(db: Kysely<Database>, feed: FeedName, call: CallRecord): Promise<void> {
  try {
    await archiveCall(db, feed, call);
  } catch (error) {
    if (!isDataRefusal(error)) throw error;
    const bodyRaw = call.bodyRaw ?? (call.body === null ? null : Buffer.from(call.body, 'utf8'));
    await archiveCall(db, feed, { ...call, actionStatus: null, errorInfo: null, requestId: null, body: null, bodyRaw });
  }
}
