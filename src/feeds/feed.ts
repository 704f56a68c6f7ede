/**
 * A feed is one API of the timpush analytics family, plugged into the one pipeline:
 * plan → fetch (rate slot, retries, archive of every call) → normalize → load (exact replace per
 * bucket, bookkeeping keyed by feed) → rollups. The pipeline (src/collect/, src/warehouse/) is
 * written once and knows no feed by name; what differs per API is here, behind this interface,
 * as a dlt source plugs its extract and normalize steps into one load.
 */
import type { Kysely } from 'kysely';
import type { BucketSize } from '../buckets.ts';
import type { Database } from '../db/database.ts';
import type { FeedName } from '../tencent/apis.ts';
import type { TimClient } from '../tencent/client.ts';
import type { CallRecord, Window } from '../tencent/loss.ts';

export type { FeedName } from '../tencent/apis.ts';

/** One bucket's new content for the feed's fact table: every row from one call. */
export interface BucketContent<Row> {
  sdkappid: number;
  bucketStart: Date;
  bucketEnd: Date;
  bucketSize: BucketSize;
  /** When the call's answer arrived: the rows' `fetched_at`. */
  fetchedAt: Date;
  /** The `feed_call` row the rows were read from. */
  callId: number;
  rows: readonly Row[];
  /** The bucket was never fetched before (its day may now take its figures from it). */
  firstFetch: boolean;
}

export interface Feed<Answer = unknown, Row = unknown> {
  readonly name: FeedName;
  /** Fetches one window: one call (with its retries), its answer parsed. */
  fetch(client: TimClient, window: Window, signal?: AbortSignal): Promise<{ call: CallRecord; answer: Answer }>;
  /** Reads an archived answer again (renormalize): the answer, or an Error saying why not. */
  parseArchived(body: string): Answer | Error;
  /**
   * Checks an answer and shapes it into fact rows, before any transaction (bad data never takes
   * a lock): throws a RangeError for data its table cannot hold.
   */
  toRows(answer: Answer): Row[];
  /** How many entries an answer holds: what sizes a load batch, before any work on it. */
  answerEntries(answer: Answer): number;
  /**
   * Makes each bucket hold exactly its rows and brings its rollups up to date. Runs inside the
   * load's transaction, which holds each bucket's `feed_bucket_state` row lock; buckets are
   * distinct. `prepare` has run for them.
   */
  replaceFacts(trx: Kysely<Database>, buckets: ReadonlyArray<BucketContent<Row>>): Promise<void>;
  /** Readies storage for buckets starting at these instants (unix seconds), e.g. partitions. */
  prepare?(trx: Kysely<Database>, bucketStarts: readonly number[]): Promise<void>;
  /**
   * Its daily rollup under the BI views, which counts days in one zone (BUCKET_TZ): the table
   * holding that zone, and the function rebuilding the rollup in another.
   */
  readonly rollup?: { zoneTable: string; rebuild: string };
  /**
   * After a pass, backfill or renormalize: work done once for many loads (a sum over all apps).
   * A failure is logged by the caller, never fatal: readers stay exact, only slower.
   */
  afterLoads?(db: Kysely<Database>): Promise<void>;
}

/** What a parser returns for a body that gives no answer: a Tencent error, or why it is unreadable. */
type NoAnswer = { kind: 'api_error'; envelope: { errorCode: number } } | { kind: 'invalid'; reason: string };

/** A parsed archived body as `parseArchived` returns it: the answer taken from it, or an Error saying why not. */
export function archivedAnswer<Parsed extends { kind: 'ok' } | NoAnswer, Answer>(
  parsed: Parsed,
  answer: (ok: Extract<Parsed, { kind: 'ok' }>) => Answer,
): Answer | Error {
  if (parsed.kind === 'ok') return answer(parsed as Extract<Parsed, { kind: 'ok' }>);
  const failed = parsed as NoAnswer;
  return new Error(failed.kind === 'invalid' ? failed.reason : `archived answer is error ${failed.envelope.errorCode}`);
}

/**
 * A feed of any answer and row shape, as the pipeline holds them: it only passes a feed's answer
 * and rows back to the same feed. (Methods are bivariant, so every Feed<A, R> is one.)
 */
export type AnyFeed = Feed<unknown, unknown>;
