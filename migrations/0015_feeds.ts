/**
 * One bookkeeping model for every feed (issue 16). A feed is one API of the timpush analytics
 * family; until now each had its own copy of the archive and the bookkeeping (tim_call and
 * stats_call, bucket_state and stats_bucket_state, app_state and stats_app_state, rate_slot and
 * stats_rate_slot). The application now writes and reads three tables keyed by feed:
 *
 * - `feed_call`: every call of every feed (the raw archive), key (sdkappid, feed, id);
 * - `feed_bucket_state`: what is known of each bucket, key (sdkappid, feed, bucket_start, bucket_size);
 * - `feed_app_state`: each app's watermark and last outcome, key (sdkappid, feed, bucket_size).
 *
 * Each is partitioned by list on `feed`, and the existing tables become its partitions, moved,
 * not copied: nothing is rewritten, no row can be lost, and the BI views and rollup functions
 * that read a partition by its name (tim_call, bucket_state, ... for loss; stats_call,
 * stats_bucket_state, ... for statistics) read exactly the rows they read before. A new feed
 * adds its three partitions in its own migration; a row of a feed without one is refused.
 *
 * Ids of calls come from one sequence for every feed from now on (they were unique per table).
 * The partitions' own keys give way to the parent's, which leads with the same columns plus
 * `feed`; the statistics facts lose their foreign key to stats_call, as loss facts never had one
 * (0001: creating a partition would lock the archive).
 *
 * Rate slots are one table, `rate_slot`, keyed by (sdkappid, slot): which feeds share a slot is
 * the application's setting (RATE_SLOTS); `stats_rate_slot`'s rows move to the slot 'statistics',
 * the one its STATS_OWN_RATE_SLOT gave statistics.
 *
 * `down` restores the old shape with every row: it detaches the partitions and moves rate slots
 * back.
 *
 * Frozen in time: never import application code here.
 */
import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/** The tables of each feed that become partitions, per parent. */
const PARTITIONS = {
  feed_call: { loss: 'tim_call', statistics: 'stats_call' },
  feed_bucket_state: { loss: 'bucket_state', statistics: 'stats_bucket_state' },
  feed_app_state: { loss: 'app_state', statistics: 'stats_app_state' },
} as const;

/** The partitions' primary keys before this migration, restored by `down`. */
const OLD_KEYS = {
  feed_call: '(sdkappid, id)',
  feed_bucket_state: '(sdkappid, bucket_start, bucket_size)',
  feed_app_state: '(sdkappid, bucket_size)',
} as const;

const up_statements = [
  `create sequence feed_call_id_seq as bigint`,
  `create table feed_call (
     sdkappid bigint not null,
     feed text not null,
     id bigint not null default nextval('feed_call_id_seq'),
     window_start timestamptz not null,
     window_end timestamptz not null,
     started_at timestamptz not null,
     duration_ms integer not null,
     attempt integer not null,
     host text not null,
     http_status integer,
     action_status text,
     error_code integer,
     error_info text,
     request_id text,
     body text,
     outcome text not null,
     body_raw bytea,
     body_bytes bigint,
     body_truncated boolean not null default false,
     constraint feed_call_pkey primary key (sdkappid, feed, id)
   ) partition by list (feed)`,
  `alter sequence feed_call_id_seq owned by feed_call.id`,
  `comment on table feed_call is
   'The raw archive: every call of every feed (API), successful or not, with its answer as received (secrets scrubbed). Partitioned by feed.'`,
  `create table feed_bucket_state (
     sdkappid bigint not null,
     feed text not null,
     bucket_start timestamptz not null,
     bucket_size text not null,
     bucket_end timestamptz not null,
     first_fetched_at timestamptz,
     last_fetched_at timestamptz,
     fetch_count integer not null default 0,
     last_call_id bigint,
     final boolean not null default false,
     lost_at timestamptz,
     constraint feed_bucket_state_pkey primary key (sdkappid, feed, bucket_start, bucket_size),
     constraint feed_bucket_state_last_call_fkey foreign key (sdkappid, feed, last_call_id)
       references feed_call (sdkappid, feed, id)
   ) partition by list (feed)`,
  `comment on table feed_bucket_state is
   'What the collector knows of each bucket of each feed: fetched how often and from which call, final, or lost. Partitioned by feed.'`,
  `create table feed_app_state (
     sdkappid bigint not null,
     feed text not null,
     bucket_size text not null,
     covered_from timestamptz not null,
     first_seen_at timestamptz not null,
     last_pass_at timestamptz,
     last_success_at timestamptz,
     last_error_at timestamptz,
     last_error_code text,
     last_error text,
     fatal_at timestamptz,
     constraint feed_app_state_pkey primary key (sdkappid, feed, bucket_size)
   ) partition by list (feed)`,
  `comment on table feed_app_state is
   'Per app, feed and bucket size: where planning starts (covered_from) and how the last pass went. Partitioned by feed.'`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of up_statements) await sql.raw(statement).execute(db);
  // The keys that point at a partition's own key go first; the parent's take their place.
  await sql.raw(`alter table bucket_state drop constraint bucket_state_last_call_fkey`).execute(db);
  await sql.raw(`alter table stats_bucket_state drop constraint stats_bucket_state_last_call_fkey`).execute(db);
  await sql.raw(`alter table stats_fact drop constraint stats_fact_call_fkey`).execute(db);
  // A partition may not have an identity column (PostgreSQL 17 refuses to attach one): the
  // archives' ids come from the parent's sequence from now on.
  for (const table of Object.values(PARTITIONS.feed_call)) {
    await sql
      .raw(
        `alter table ${table} alter column id drop identity,
                     alter column id set default nextval('feed_call_id_seq')`,
      )
      .execute(db);
  }
  for (const [parent, byFeed] of Object.entries(PARTITIONS)) {
    for (const [feed, table] of Object.entries(byFeed)) {
      // The check lets ATTACH skip its scan of the table; the partition bound then holds it.
      await sql
        .raw(
          `alter table ${table} add column feed text not null default '${feed}',
                       add constraint ${table}_feed_check check (feed = '${feed}'),
                       drop constraint ${table}_pkey`,
        )
        .execute(db);
      await sql.raw(`alter table ${parent} attach partition ${table} for values in ('${feed}')`).execute(db);
      await sql.raw(`alter table ${table} drop constraint ${table}_feed_check`).execute(db);
    }
  }
  // New ids continue after every id either archive gave, from one sequence, whichever table a
  // row is written through.
  await sql
    .raw(
      `select setval('feed_call_id_seq', greatest(
                   (select coalesce(max(id), 0) from tim_call), (select coalesce(max(id), 0) from stats_call)) + 1, false)`,
    )
    .execute(db);

  await sql
    .raw(
      `alter table rate_slot add column slot text not null default 'loss',
                   drop constraint rate_slot_pkey,
                   add constraint rate_slot_pkey primary key (sdkappid, slot)`,
    )
    .execute(db);
  await sql.raw(`alter table rate_slot alter column slot drop default`).execute(db);
  await sql
    .raw(
      `insert into rate_slot (sdkappid, slot, next_at, sent_at)
                 select sdkappid, 'statistics', next_at, sent_at from stats_rate_slot`,
    )
    .execute(db);
  await sql.raw(`drop table stats_rate_slot`).execute(db);
  await sql
    .raw(
      `comment on column rate_slot.slot is
   'Which slot of the app: feeds that share one wait for each other (RATE_SLOTS); by default every feed shares the slot named after the first feed.'`,
    )
    .execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql
    .raw(
      `create table stats_rate_slot (
                   sdkappid bigint primary key,
                   next_at timestamptz not null,
                   sent_at timestamptz
                 )`,
    )
    .execute(db);
  await sql
    .raw(
      `insert into stats_rate_slot (sdkappid, next_at, sent_at)
                 select sdkappid, next_at, sent_at from rate_slot where slot = 'statistics'`,
    )
    .execute(db);
  // The old table has one slot per app: the one named 'loss' (the default), or any other.
  await sql
    .raw(
      `delete from rate_slot r where slot <> 'loss' and (slot = 'statistics' or exists
                   (select 1 from rate_slot l where l.sdkappid = r.sdkappid and l.slot = 'loss'))`,
    )
    .execute(db);
  await sql
    .raw(
      `alter table rate_slot drop constraint rate_slot_pkey, drop column slot,
                   add constraint rate_slot_pkey primary key (sdkappid)`,
    )
    .execute(db);

  // The parent's foreign key first: a call partition cannot leave while bucket rows point at it.
  await sql.raw(`alter table feed_bucket_state drop constraint feed_bucket_state_last_call_fkey`).execute(db);
  for (const [parent, byFeed] of Object.entries(PARTITIONS)) {
    for (const table of Object.values(byFeed)) {
      await sql.raw(`alter table ${parent} detach partition ${table}`).execute(db);
      // The parent's key stays on the detached table under the partition's name.
      await sql
        .raw(
          `alter table ${table} drop constraint ${table}_pkey, drop column feed,
                       add constraint ${table}_pkey primary key ${OLD_KEYS[parent as keyof typeof OLD_KEYS]}`,
        )
        .execute(db);
    }
  }
  // Each archive gets its own identity again, going on after every id it holds.
  for (const table of Object.values(PARTITIONS.feed_call)) {
    await sql
      .raw(
        `alter table ${table} alter column id drop default,
                     alter column id add generated by default as identity`,
      )
      .execute(db);
    await sql
      .raw(
        `select setval(pg_get_serial_sequence('${table}', 'id'),
                     (select coalesce(max(id), 0) + 1 from ${table}), false)`,
      )
      .execute(db);
  }
  await sql
    .raw(
      `alter table bucket_state add constraint bucket_state_last_call_fkey
                   foreign key (sdkappid, last_call_id) references tim_call (sdkappid, id)`,
    )
    .execute(db);
  await sql
    .raw(
      `alter table stats_bucket_state add constraint stats_bucket_state_last_call_fkey
                   foreign key (sdkappid, last_call_id) references stats_call (sdkappid, id)`,
    )
    .execute(db);
  await sql
    .raw(
      `alter table stats_fact add constraint stats_fact_call_fkey
                   foreign key (sdkappid, call_id) references stats_call (sdkappid, id)`,
    )
    .execute(db);
  for (const parent of Object.keys(PARTITIONS)) await sql.raw(`drop table ${parent}`).execute(db);
}
