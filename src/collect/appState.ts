import type { Kysely } from 'kysely';
import type { BucketSize } from '../buckets.ts';
import type { AppState, AppStateTableName, Database } from '../db/database.ts';
import { storableText } from '../tencent/limits.ts';

/**
 * Per app and bucket size (per API: loss in `app_state`, statistics in `stats_app_state`): where planning starts (the watermark) and how the last pass went,
 * for `status`, `/metrics` and the fatal-error pause.
 */

/** The app's state, created with `coveredFromMs` as its watermark the first time it is seen. */
export async function ensureAppState(
  db: Kysely<Database>,
  sdkappid: number,
  bucketSize: BucketSize,
  coveredFromMs: number,
  nowMs: number,
  table: AppStateTableName = 'app_state',
): Promise<AppState> {
  await db
    .insertInto(table)
    .values({
      sdkappid,
      bucket_size: bucketSize,
      covered_from: new Date(coveredFromMs),
      first_seen_at: new Date(nowMs),
    })
    .onConflict((oc) => oc.columns(['sdkappid', 'bucket_size']).doNothing())
    .execute();
  return db
    .selectFrom(table)
    .selectAll()
    .where('sdkappid', '=', sdkappid)
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
  bucketSize: BucketSize,
  outcome: PassOutcome,
  table: AppStateTableName = 'app_state',
): Promise<void> {
  const at = new Date(outcome.atMs);
  await db
    .updateTable(table as 'app_state') // same columns in both tables (migration 0005)
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
    .where('bucket_size', '=', bucketSize)
    .execute();
}

export async function listAppStates(
  db: Kysely<Database>,
  bucketSize: BucketSize,
  table: AppStateTableName = 'app_state',
): Promise<AppState[]> {
  return db.selectFrom(table).selectAll().where('bucket_size', '=', bucketSize).orderBy('sdkappid').execute();
}
