/**
 * What the daemon needs to coordinate processes and remember each app: the shared per-app call
 * slot (the 1 call/second cap across processes), per-app pass leases (two replicas never collect
 * the same app in the same pass), and per-app collection state (watermark, last success/error).
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

const up_statements = [
  // One row per app: the earliest instant the next call may start. Reserving a slot is one
  // UPSERT under the row lock, so processes queue through PostgreSQL, on the database's clock.
  `create table rate_slot (
     sdkappid bigint primary key,
     next_at timestamptz not null
   )`,
  `create table app_lease (
     sdkappid bigint primary key,
     holder text not null,
     expires_at timestamptz not null
   )`,
  `create table app_state (
     sdkappid bigint not null,
     bucket_size text not null,
     -- Every bucket before this instant is final or lost: planning starts here.
     covered_from timestamptz not null,
     first_seen_at timestamptz not null,
     last_pass_at timestamptz,
     last_success_at timestamptz,
     last_error_at timestamptz,
     last_error_code text,
     last_error text,
     -- Set when the app hit a fatal error (e.g. 90045): it is skipped for an hour, then tried again.
     fatal_at timestamptz,
     constraint app_state_pkey primary key (sdkappid, bucket_size),
     constraint app_state_bucket_size_check check (bucket_size in ('1d', '1h'))
   )`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of up_statements) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['app_state', 'app_lease', 'rate_slot']) await sql.raw(`drop table ${table}`).execute(db);
}
