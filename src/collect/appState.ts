import type { Kysely } from 'kysely';
import type { BucketSize } from '../buckets.ts';
import type { AppState, Database } from '../db/database.ts';
import type { FeedName } from '../tencent/apis.ts';
import { storableText } from '../tencent/limits.ts';

/**
 * Per app, feed and bucket size (`feed_app_state`): where planning starts (the watermark) and how
 * the last pass went, for `status`, `/metrics` and the fatal-error pause. A feed's fatal error
 * pauses that feed of the app only.
 */

/** The app's state, created with `coveredFromMs` as its watermark the first time it is seen. */
export async function ensureAppState(
  db: Kysely<Database>,
  sdkappid: number,
  feed: FeedName,
  bucketSize: BucketSize,
  coveredFromMs: number,
  nowMs: number,
): Promise<AppState> {
  await db
    .insertInto('feed_app_state')
    .values({
      sdkappid,
      feed,
      bucket_size: bucketSize,
      covered_from: new Date(coveredFromMs),
      first_seen_at: new Date(nowMs),
    })
    .onConflict((oc) => oc.columns(['sdkappid', 'feed', 'bucket_size']).doNothing())
    .execute();
  return db
    .selectFrom('feed_app_state')
    .selectAll()
    .where('sdkappid', '=', sdkappid)
    .where('feed', '=', feed)
    .where('bucket_size', '=', bucketSize)
    .executeTakeFirstOrThrow();
}

export interface PassOutcome {
  coveredFromMs: number;
  atMs: number;
  /** Any bucket loaded in this pass. */
  succeeded: boolean;
  error?: { code: string; message: string; fatal: boolean };
}

/** Records how a pass went for one app. A pass without error clears a previous fatal pause. */
export async function recordAppPass(
  db: Kysely<Database>,
  sdkappid: number,
  feed: FeedName,
  bucketSize: BucketSize,
  outcome: PassOutcome,
): Promise<void> {
  const at = new Date(outcome.atMs);
  await db
    .updateTable('feed_app_state')
    .set({
      covered_from: new Date(outcome.coveredFromMs),
      last_pass_at: at,
      ...(outcome.succeeded ? { last_success_at: at } : {}),
      ...(outcome.error
        ? {
            last_error_at: at,
            last_error_code: storableText(outcome.error.code),
            last_error: storableText(outcome.error.message),
            fatal_at: outcome.error.fatal ? at : null,
          }
        : { fatal_at: null }),
    })
    .where('sdkappid', '=', sdkappid)
    .where('feed', '=', feed)
    .where('bucket_size', '=', bucketSize)
    .execute();
}

export async function listAppStates(db: Kysely<Database>, feed: FeedName, bucketSize: BucketSize): Promise<AppState[]> {
  return db
    .selectFrom('feed_app_state')
    .selectAll()
    .where('feed', '=', feed)
    .where('bucket_size', '=', bucketSize)
    .orderBy('sdkappid')
    .execute();
}
