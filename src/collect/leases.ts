import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/database.ts';

/**
 * Per-app pass leases: a replica collects an app only while it holds the app's lease, so two
 * replicas never fetch the same bucket in the same pass. A lease expires by itself (a crashed
 * holder blocks the app for at most `ttlMs`) and is renewed during long passes. After its pass
 * the holder keeps it for a short grace period, so a replica whose tick comes a little later
 * does not fetch the same pending buckets again.
 */

/** Takes or renews the lease; false when another live holder has it. */
export async function acquireLease(
  db: Kysely<Database>,
  sdkappid: number,
  holder: string,
  ttlMs: number,
): Promise<boolean> {
  const { rows } = await sql<{ holder: string }>`
    insert into app_lease (sdkappid, holder, expires_at)
    values (${sdkappid}, ${holder}, clock_timestamp() + (${ttlMs}::float8 * interval '1 millisecond'))
    on conflict (sdkappid) do update set holder = excluded.holder, expires_at = excluded.expires_at
      where app_lease.holder = excluded.holder or app_lease.expires_at < clock_timestamp()
    returning holder`.execute(db);
  return rows.length === 1;
}

/** Shortens our lease to `graceMs` from now (0: releases it at once). */
export async function releaseLease(db: Kysely<Database>, sdkappid: number, holder: string, graceMs = 0): Promise<void> {
  await sql`update app_lease set expires_at = clock_timestamp() + (${graceMs}::float8 * interval '1 millisecond')
             where sdkappid = ${sdkappid} and holder = ${holder}`.execute(db);
}

/** Releases every lease this holder has (a clean stop: its next pass will never come). */
export async function releaseLeasesOf(db: Kysely<Database>, holder: string): Promise<void> {
  await sql`update app_lease set expires_at = clock_timestamp() where holder = ${holder}`.execute(db);
}
