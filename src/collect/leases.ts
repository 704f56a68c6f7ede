import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/database.ts';

/**
 * Per-app pass leases: a replica collects an app only while it holds the app's lease, so two
 * replicas never fetch the same bucket in the same pass. A lease expires by itself and is renewed
 * during long passes. After its pass the holder keeps it for a short grace period, so a replica
 * whose tick comes a little later does not fetch the same pending buckets again.
 *
 * A holder that is provably gone does not block anyone until its lease expires: after a kill -9
 * (or a clean stop within the grace period) the restarted process takes the leases over at once.
 * Provably gone means: the holder ran on this host and its pid is no longer alive, or it ran on
 * this host with this process's pid (a restarted container is pid 1 again) but is not one of this
 * process's holders. A holder on another host is only ever waited for.
 */

/** Holder ids made by this process (several collectors may live in one process, e.g. tests). */
const ourHolders = new Set<string>();

/** A new holder id for this process: `host:pid:random`. */
export function newHolderId(): string {
  const holder = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  ourHolders.add(holder);
  return holder;
}

/** Whether the process that took `holder` is provably gone (see above). */
export function holderIsGone(holder: string): boolean {
  const match = /^(.*):(\d+):([0-9a-f]+)$/.exec(holder);
  if (!match || match[1] !== hostname()) return false;
  const pid = Number(match[2]);
  if (pid === process.pid) return !ourHolders.has(holder);
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // EPERM: alive, under another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export type LeaseResult = { acquired: true; tookOverFrom?: string } | { acquired: false; heldBy: string };

/** Takes or renews the lease; refused while another live holder has it. */
export async function acquireLease(
  db: Kysely<Database>,
  sdkappid: number,
  holder: string,
  ttlMs: number,
): Promise<LeaseResult> {
  const { rows } = await sql<{ holder: string }>`
    insert into app_lease (sdkappid, holder, expires_at)
    values (${sdkappid}, ${holder}, clock_timestamp() + (${ttlMs}::float8 * interval '1 millisecond'))
    on conflict (sdkappid) do update set holder = excluded.holder, expires_at = excluded.expires_at
      where app_lease.holder = excluded.holder or app_lease.expires_at < clock_timestamp()
    returning holder`.execute(db);
  if (rows.length === 1) return { acquired: true };
  const current = await db.selectFrom('app_lease').select('holder').where('sdkappid', '=', sdkappid).executeTakeFirst();
  if (!current) return acquireLease(db, sdkappid, holder, ttlMs); // released meanwhile
  if (!holderIsGone(current.holder)) return { acquired: false, heldBy: current.holder };
  // Compare-and-set on the dead holder: of two restarted processes, one takes it.
  const taken = await sql<{ holder: string }>`
    update app_lease set holder = ${holder},
           expires_at = clock_timestamp() + (${ttlMs}::float8 * interval '1 millisecond')
     where sdkappid = ${sdkappid} and holder = ${current.holder}
    returning holder`.execute(db);
  return taken.rows.length === 1
    ? { acquired: true, tookOverFrom: current.holder }
    : { acquired: false, heldBy: current.holder };
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
