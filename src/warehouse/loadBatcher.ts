/**
 * Group commit for bucket loads: answers that arrive while load transactions are running queue
 * here, and the next transaction loads all of them with one set-based {@link loadBuckets}.
 *
 * One transaction per bucket (archive, bookkeeping, facts, rollup of its day and week) was what
 * bound a 500-app pass on two cores: 3 500 small transactions, each paying its round trips, its
 * commit and its rollup statement. A batch pays them once. Nothing waits for a batch to fill: a
 * load that finds a free slot starts at once, alone if it is alone, so an idle daemon loads each
 * answer as soon as it arrives; batches form only while the slots are busy.
 *
 * Every guarantee of a lone load holds per bucket, since `loadBuckets` gives them set-based:
 * archive, bookkeeping, facts and rollup commit together; a call overtaken by a later one is
 * archived with `replaced: false`; `final` is kept. A bucket's failure never fails the others: a
 * failed batch is loaded again input by input, so each gets its own result or error (and the
 * caller archives its refused call as before).
 */
import type { Kysely } from 'kysely';
import type { DatabaseKind } from '../db/connect.ts';
import type { Database } from '../db/database.ts';
import type { AnyFeed } from '../feeds/feed.ts';
import { BucketMismatchError, loadBucket, loadBuckets, type LoadBucketInput, type LoadBucketResult } from './load.ts';

export interface LoadBatcherOptions {
  /** Load transactions running at once (default 1); see {@link loadSlotsFor}. */
  slots?: number;
  /** Most buckets in one transaction (default 200). */
  maxBuckets?: number;
  /**
   * Most answer entries in one transaction (default 50 000; a larger bucket still goes, alone):
   * with `maxBuckets`, bounds the memory of a batch (its parameters and the parsed rows).
   */
  maxEntries?: number;
  /**
   * Told of every transaction of more than one bucket: its size, and whether it committed (if
   * not, its inputs were then loaded one by one).
   */
  onBatch?(buckets: number, committed: boolean): void;
}

export interface LoadBatcher {
  /**
   * Loads one bucket of `feed` as {@link loadBuckets} would alone: resolves with its result once
   * its transaction committed, rejects with its own error (nothing of it written).
   */
  load(feed: AnyFeed, input: LoadBucketInput): Promise<LoadBucketResult>;
}

/**
 * Load transactions at once: one on PGlite (one connection, queries on the daemon's own thread),
 * three on PostgreSQL. Three of the pool's ten connections keep the server's two cores busy
 * (one batch commits while the next is written and the third forms), and leave seven to the
 * apps' leases, plans and bookkeeping; more slots would only make the batches smaller.
 */
export function loadSlotsFor(kind: DatabaseKind): number {
  return kind === 'pglite' ? 1 : 3;
}

interface Pending {
  feed: AnyFeed;
  input: LoadBucketInput;
  /** The answer's entries (what sizes a batch). */
  size: number;
  key: string;
  resolve(result: LoadBucketResult): void;
  reject(error: unknown): void;
}

export function createLoadBatcher(db: Kysely<Database>, options: LoadBatcherOptions = {}): LoadBatcher {
  const slots = options.slots ?? 1;
  const maxBuckets = options.maxBuckets ?? 200;
  const maxEntries = options.maxEntries ?? 50_000;
  let queue: Pending[] = [];
  /** Buckets in a running transaction: another load of one of them waits for the next batch. */
  const loading = new Set<string>();
  let running = 0;

  /**
   * Takes the next batch from the queue: loads of the first one's feed (a transaction loads one
   * feed), in arrival order, skipping buckets already loading.
   */
  function take(): Pending[] {
    const batch: Pending[] = [];
    const left: Pending[] = [];
    let entries = 0;
    let full = false;
    const feed = queue.find((pending) => !loading.has(pending.key))?.feed;
    for (const pending of queue) {
      const { size } = pending;
      if (pending.feed !== feed) {
        left.push(pending);
        continue;
      }
      // Once one does not fit, none behind it is taken (a smaller later load of the same bucket
      // would overtake it).
      full ||= batch.length >= maxBuckets || (batch.length > 0 && entries + size > maxEntries);
      // A bucket already in this batch or in a running one stays queued: `loadBuckets` takes
      // distinct buckets, and the second load of a bucket must commit after the first (its
      // fetch_count, its archive id), in the next transaction.
      if (full || loading.has(pending.key)) {
        left.push(pending);
        continue;
      }
      batch.push(pending);
      loading.add(pending.key);
      entries += size;
    }
    queue = left;
    return batch;
  }

  function pump(): void {
    while (running < slots && queue.length > 0) {
      const batch = take();
      if (batch.length === 0) return;
      running++;
      void run(batch).finally(() => {
        running--;
        for (const pending of batch) loading.delete(pending.key);
        pump();
      });
    }
  }

  async function run(batch: Pending[]): Promise<void> {
    let results: LoadBucketResult[] | undefined;
    try {
      results = await loadBuckets(
        db,
        batch[0]!.feed,
        batch.map((pending) => pending.input),
      );
    } catch (error) {
      if (batch.length === 1) return batch[0]!.reject(error);
    }
    if (batch.length > 1) options.onBatch?.(batch.length, results !== undefined);
    if (results) return batch.forEach((pending, i) => pending.resolve(results[i]!));
    // One input refused (bad data, another bucket end, a constraint) rolled the batch back:
    // each input again on its own, so each gets its own result or error. Database trouble
    // (connection lost, server down) ends that: the rest get the same error rather than each
    // waiting out its own connection timeout; the pass fails on it anyway.
    let trouble: { error: unknown } | undefined;
    for (const pending of batch) {
      if (trouble) {
        pending.reject(trouble.error);
        continue;
      }
      try {
        pending.resolve(await loadBucket(db, pending.feed, pending.input));
      } catch (error) {
        if (!isRefusal(error)) trouble = { error };
        pending.reject(error);
      }
    }
  }

  return {
    load: (feed, input) =>
      new Promise<LoadBucketResult>((resolve, reject) => {
        const key = `${feed.name} ${input.sdkappid} ${input.bucket.start} ${input.bucketSize}`;
        queue.push({ feed, input, size: feed.answerEntries(input.answer), key, resolve, reject });
        pump();
      }),
  };
}

/**
 * An error one input can cause on its own: refused data (its edges, a count, a value or a
 * constraint the database refuses), as opposed to trouble with the database itself (connection
 * lost, server shutting down or out of resources: SQLSTATE classes 08, 53, 57, 58, XX, or no
 * SQLSTATE at all).
 */
function isRefusal(error: unknown): boolean {
  if (error instanceof BucketMismatchError || error instanceof RangeError || error instanceof TypeError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !/^(08|53|57|58|XX)/.test(code);
}
