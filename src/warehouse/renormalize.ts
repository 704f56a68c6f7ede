/**
 * Rebuilding facts from the raw archive, without calling the API.
 *
 * Used after a parser or normalization fix: for each bucket, the body of the call its facts came
 * from (`bucket_state.last_call_id`) is parsed again and the bucket is replaced exactly as a
 * fresh load would (same `fetched_at`, same `call_id`). `bucket_state` is not touched: no fetch
 * happened.
 */
import type { Kysely } from 'kysely';
import type { BucketSize } from '../buckets.ts';
import type { Database } from '../db/database.ts';
import { inTransaction } from '../db/transaction.ts';
import type { LossEntry } from '../tencent/loss.ts';
import { receivedAt, replaceBucketFacts } from './load.ts';
import { normalizeLoss } from './normalize.ts';
import type { FactLine } from './normalize.ts';
import { ensureLossFactPartition } from './partitions.ts';

/** Parses an archived response body; returns an Error (not throws) for a body it cannot read. */
export type LossBodyParser = (body: string) => LossEntry[] | Error;

export interface RenormalizeOptions {
  sdkappid?: number;
  bucketSize?: BucketSize;
  /** Only buckets with bucket_start >= from (unix seconds). */
  from?: number;
  /** Only buckets with bucket_start < to (unix seconds). */
  to?: number;
  /** Called after each bucket (for progress output). */
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

const PAGE = 200;

/**
 * Rebuilds the facts of every fetched bucket matching `options` from its archived body. A bucket
 * whose body cannot be parsed keeps its current facts and is reported in `failed`. Each bucket is
 * its own transaction, so a long run never holds locks for long and can be interrupted.
 */
export async function renormalize(
  db: Kysely<Database>,
  parse: LossBodyParser,
  options: RenormalizeOptions = {},
): Promise<RenormalizeReport> {
  const report: RenormalizeReport = { buckets: 0, rebuilt: 0, facts: 0, failed: [], skipped: 0 };
  let after: { sdkappid: number; bucket_start: Date; bucket_size: BucketSize } | undefined;
  for (;;) {
    let query = db
      .selectFrom('bucket_state as b')
      .innerJoin('tim_call as c', (join) =>
        join.onRef('c.sdkappid', '=', 'b.sdkappid').onRef('c.id', '=', 'b.last_call_id'),
      )
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
    const page = await query.execute();
    for (const row of page) {
      const outcome = await rebuildOne(db, parse, row);
      report.buckets++;
      if (outcome.status === 'rebuilt') {
        report.rebuilt++;
        report.facts += outcome.facts;
      } else if (outcome.status === 'failed') report.failed.push(outcome);
      else report.skipped++;
      options.onBucket?.(outcome);
    }
    if (page.length < PAGE) return report;
    const last = page[page.length - 1]!;
    after = { sdkappid: last.sdkappid, bucket_start: last.bucket_start, bucket_size: last.bucket_size };
  }
}

async function rebuildOne(
  db: Kysely<Database>,
  parse: LossBodyParser,
  row: {
    sdkappid: number;
    bucket_start: Date;
    bucket_end: Date;
    bucket_size: BucketSize;
    call_id: number;
    outcome: string;
    body: string | null;
    started_at: Date;
    duration_ms: number;
  },
): Promise<RenormalizedBucket> {
  const base = {
    sdkappid: row.sdkappid,
    bucketStart: row.bucket_start,
    bucketSize: row.bucket_size,
    callId: row.call_id,
  };
  let lines: FactLine[];
  try {
    if (row.outcome !== 'ok' || row.body === null)
      throw new Error(`call ${row.call_id} has outcome ${row.outcome} and ${row.body === null ? 'no' : 'a'} body`);
    const parsed = parse(row.body);
    if (parsed instanceof Error) throw parsed;
    lines = normalizeLoss(parsed);
  } catch (error) {
    return { ...base, status: 'failed', facts: 0, reason: error instanceof Error ? error.message : String(error) };
  }
  const bucket = { start: row.bucket_start.getTime() / 1000, end: row.bucket_end.getTime() / 1000 };
  return inTransaction(db, async (trx) => {
    await ensureLossFactPartition(trx, bucket.start);
    // Lock the bucket like a load does, and re-check it still comes from the same call.
    const current = await trx
      .selectFrom('bucket_state')
      .select('last_call_id')
      .where('sdkappid', '=', row.sdkappid)
      .where('bucket_start', '=', row.bucket_start)
      .where('bucket_size', '=', row.bucket_size)
      .forUpdate()
      .executeTakeFirst();
    if (current?.last_call_id !== row.call_id) {
      return { ...base, status: 'skipped' as const, facts: 0, reason: 'a newer fetch replaced the bucket meanwhile' };
    }
    const fetchedAt = receivedAt({ startedAt: row.started_at.getTime(), durationMs: row.duration_ms });
    const facts = await replaceBucketFacts(trx, {
      sdkappid: row.sdkappid,
      bucket,
      bucketSize: row.bucket_size,
      lines,
      fetchedAt,
      callId: row.call_id,
    });
    return { ...base, status: 'rebuilt' as const, facts };
  });
}
