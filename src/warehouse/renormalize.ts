/**
 * Rebuilding a feed's facts from the raw archive, without calling the API.
 *
 * Used after a parser or normalization fix: for each bucket, the body of the call its facts came
 * from (`feed_bucket_state.last_call_id`) is parsed again by the feed and the bucket is replaced
 * exactly as a fresh load would (same `fetched_at`, same `call_id`). The bookkeeping is not
 * touched: no fetch happened.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import type { BucketSize } from '../buckets.ts';
import type { Database } from '../db/database.ts';
import { inTransaction } from '../db/transaction.ts';
import type { AnyFeed, BucketContent } from '../feeds/feed.ts';
import { receivedAt } from './load.ts';

export interface RenormalizeOptions {
  sdkappid?: number;
  bucketSize?: BucketSize;
  /** Only buckets with bucket_start >= from (unix seconds). */
  from?: number;
  /** Only buckets with bucket_start < to (unix seconds). */
  to?: number;
  /** Called for each bucket once its page is committed (for progress output). */
  onBucket?: (outcome: RenormalizedBucket) => void;
}

export interface RenormalizedBucket {
  sdkappid: number;
  bucketStart: Date;
  bucketSize: BucketSize;
  callId: number;
  status: 'rebuilt' | 'failed' | 'skipped';
  facts: number;
  /** Why it failed, or why it was skipped (a newer fetch replaced it meanwhile). */
  reason?: string;
}

export interface RenormalizeReport {
  buckets: number;
  rebuilt: number;
  facts: number;
  failed: RenormalizedBucket[];
  skipped: number;
}

/**
 * Buckets per transaction: enough that a transaction's fixed cost (a few round trips) is small
 * beside its rows, few enough that it holds its locks for well under a second.
 */
const PAGE = 500;

type ArchivedBucket = {
  sdkappid: number;
  bucket_start: Date;
  bucket_end: Date;
  bucket_size: BucketSize;
  call_id: number;
  outcome: string;
  body: string | null;
  started_at: Date;
  duration_ms: number;
};

/**
 * Rebuilds the facts of every fetched bucket of `feed` matching `options` from its archived body.
 * A bucket whose body cannot be parsed keeps its current facts and is reported in `failed`. Each
 * page of buckets is one transaction, set-based, so a long run never holds locks for long and can
 * be interrupted.
 */
export async function renormalize(
  db: Kysely<Database>,
  feed: AnyFeed,
  options: RenormalizeOptions = {},
): Promise<RenormalizeReport> {
  const report: RenormalizeReport = { buckets: 0, rebuilt: 0, facts: 0, failed: [], skipped: 0 };
  // Two pages in flight: while one page's transaction runs in the database, the next page is
  // read and parsed here, so the database and this process work at the same time.
  const readParsed = async (after?: PageKey) => parsePage(feed, await readPage(db, feed, options, after));
  let next = readParsed();
  for (;;) {
    const { page, parsed, outcomes } = await next;
    const more = page.length === PAGE;
    if (more) {
      const last = page[page.length - 1]!;
      next = readParsed({ sdkappid: last.sdkappid, bucket_start: last.bucket_start, bucket_size: last.bucket_size });
      next.catch(() => {}); // awaited on the next turn; if this page's write throws first, that error wins
    }
    await writePage(db, feed, parsed);
    for (const outcome of outcomes) {
      report.buckets++;
      if (outcome.status === 'rebuilt') {
        report.rebuilt++;
        report.facts += outcome.facts;
      } else if (outcome.status === 'failed') report.failed.push(outcome);
      else report.skipped++;
      options.onBucket?.(outcome);
    }
    if (!more) {
      await feed.afterLoads?.(db);
      return report;
    }
  }
}

type PageKey = Pick<ArchivedBucket, 'sdkappid' | 'bucket_start' | 'bucket_size'>;

/** The next `PAGE` fetched buckets after `after` (key order), with the body of the call their facts came from. */
function readPage(
  db: Kysely<Database>,
  feed: AnyFeed,
  options: RenormalizeOptions,
  after?: PageKey,
): Promise<ArchivedBucket[]> {
  let query = db
    .selectFrom('feed_bucket_state as b')
    .innerJoin('feed_call as c', (join) =>
      join.onRef('c.sdkappid', '=', 'b.sdkappid').onRef('c.feed', '=', 'b.feed').onRef('c.id', '=', 'b.last_call_id'),
    )
    .where('b.feed', '=', feed.name)
    .select([
      'b.sdkappid',
      'b.bucket_start',
      'b.bucket_end',
      'b.bucket_size',
      'c.id as call_id',
      'c.outcome',
      'c.body',
      'c.started_at',
      'c.duration_ms',
    ])
    .orderBy('b.sdkappid')
    .orderBy('b.bucket_start')
    .orderBy('b.bucket_size')
    .limit(PAGE);
  if (options.sdkappid !== undefined) query = query.where('b.sdkappid', '=', options.sdkappid);
  if (options.bucketSize !== undefined) query = query.where('b.bucket_size', '=', options.bucketSize);
  if (options.from !== undefined) query = query.where('b.bucket_start', '>=', new Date(options.from * 1000));
  if (options.to !== undefined) query = query.where('b.bucket_start', '<', new Date(options.to * 1000));
  if (after) {
    const { sdkappid, bucket_start, bucket_size } = after;
    query = query.where((eb) =>
      eb(
        eb.refTuple('b.sdkappid', 'b.bucket_start', 'b.bucket_size'),
        '>',
        eb.tuple(sdkappid, bucket_start, bucket_size),
      ),
    );
  }
  return query.execute();
}

type ParsedBucket = { row: ArchivedBucket; rows: unknown[]; outcome: RenormalizedBucket };

/** Parses a page of archived answers: the buckets to rebuild, and every bucket's outcome (in page order). */
function parsePage(
  feed: AnyFeed,
  page: ArchivedBucket[],
): { page: ArchivedBucket[]; parsed: ParsedBucket[]; outcomes: RenormalizedBucket[] } {
  const outcomes: RenormalizedBucket[] = [];
  const parsed: ParsedBucket[] = [];
  for (const row of page) {
    const base = {
      sdkappid: row.sdkappid,
      bucketStart: row.bucket_start,
      bucketSize: row.bucket_size,
      callId: row.call_id,
    };
    try {
      if (row.outcome !== 'ok' || row.body === null)
        throw new Error(`call ${row.call_id} has outcome ${row.outcome} and ${row.body === null ? 'no' : 'a'} body`);
      const answer: unknown = feed.parseArchived(row.body);
      if (answer instanceof Error) throw answer;
      const outcome: RenormalizedBucket = { ...base, status: 'rebuilt', facts: 0 };
      parsed.push({ row, rows: feed.toRows(answer) as unknown[], outcome });
      outcomes.push(outcome);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      outcomes.push({ ...base, status: 'failed', facts: 0, reason });
    }
  }
  return { page, parsed, outcomes };
}

/** Replaces the facts of the parsed buckets still current, in one transaction (their outcomes are updated). */
async function writePage(db: Kysely<Database>, feed: AnyFeed, parsed: readonly ParsedBucket[]): Promise<void> {
  if (parsed.length === 0) return;
  await inTransaction(db, async (trx) => {
    await feed.prepare?.(
      trx,
      parsed.map(({ row }) => row.bucket_start.getTime() / 1000),
    );
    // Lock the buckets like a load does (in key order, so two renormalize runs cannot deadlock),
    // and keep those still holding the facts of the call we parsed.
    const keys = parsed.map(({ row }, i) => ({
      i,
      sdkappid: row.sdkappid,
      bucket_start: row.bucket_start.toISOString(),
      bucket_size: row.bucket_size,
      call_id: row.call_id,
    }));
    const { rows: current } = await sql<{ i: number }>`
      select k.i from feed_bucket_state b
        join json_to_recordset(${JSON.stringify(keys)}::json) as k(i int, sdkappid int8, bucket_start timestamptz, bucket_size text, call_id int8)
          on b.sdkappid = k.sdkappid and b.bucket_start = k.bucket_start and b.bucket_size = k.bucket_size
       where b.feed = ${feed.name} and b.last_call_id = k.call_id
       order by b.sdkappid, b.bucket_start, b.bucket_size
         for update of b`.execute(trx);
    const still = new Set(current.map(({ i }) => i));
    const rebuilt: Array<BucketContent<unknown>> = [];
    for (const [i, { row, rows, outcome }] of parsed.entries()) {
      if (!still.has(i)) {
        Object.assign(outcome, { status: 'skipped', reason: 'a newer fetch replaced the bucket meanwhile' });
        continue;
      }
      outcome.facts = rows.length;
      rebuilt.push({
        sdkappid: row.sdkappid,
        bucketStart: row.bucket_start,
        bucketEnd: row.bucket_end,
        bucketSize: row.bucket_size,
        fetchedAt: receivedAt({ startedAt: row.started_at.getTime(), durationMs: row.duration_ms }),
        callId: row.call_id,
        rows,
        firstFetch: false,
      });
    }
    await feed.replaceFacts(trx, rebuilt);
  });
}
