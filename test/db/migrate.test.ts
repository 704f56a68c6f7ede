import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMigrator,
  migrateDown,
  migrateToLatest,
  migrationStatus,
  MIGRATIONS_FOLDER,
} from '../../src/db/migrate.ts';
import { createTestDatabase, openSecondConnection } from '../helpers/database.ts';
import type { TestDatabase } from '../helpers/database.ts';

/** Everything a migration can change, in a comparable form. */
async function schemaSnapshot(db: Kysely<any>) {
  const columns = await sql`
    select table_name, column_name,
           -- the order among live columns: a column dropped and added again keeps its place
           -- (its attnum, which ordinal_position shows, grows by the dropped one)
           row_number() over (partition by table_name order by ordinal_position) as position,
           data_type, is_nullable, column_default, is_identity
      from information_schema.columns
     where table_schema = current_schema()
     order by table_name, ordinal_position`.execute(db);
  const indexes = await sql`
    select tablename, indexname, indexdef from pg_indexes
     where schemaname = current_schema() order by tablename, indexname`.execute(db);
  const constraints = await sql`
    select conrelid::regclass::text as table_name, conname, pg_get_constraintdef(oid) as definition
      from pg_constraint
     where connamespace = current_schema()::regnamespace
     order by 1, 2`.execute(db);
  const views = await sql`
    select table_name, view_definition from information_schema.views
     where table_schema = current_schema() order by table_name`.execute(db);
  const comments = await sql`
    select c.relname, a.attname, d.description
      from pg_description d
      join pg_class c on c.oid = d.objoid
      left join pg_attribute a on a.attrelid = c.oid and a.attnum = d.objsubid and d.objsubid > 0
     where c.relnamespace = current_schema()::regnamespace
     order by 1, 2 nulls first`.execute(db);
  const partitioning = await sql`
    select c.relname, pg_get_partkeydef(c.oid) as key
      from pg_partitioned_table p join pg_class c on c.oid = p.partrelid
     order by 1`.execute(db);
  const dimensions = await sql`
    select 'platform' as dim, platform::text as key, name from platform
    union all select 'stage', stage, name || ' / ' || description || ' / ' || sort_order from stage
    order by 1, 2`.execute(db);
  return {
    columns: columns.rows,
    indexes: indexes.rows,
    constraints: constraints.rows,
    views: views.rows,
    comments: comments.rows,
    partitioning: partitioning.rows,
    dimensions: dimensions.rows,
  };
}

async function tableNames(db: Kysely<any>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
     where table_schema = current_schema() and table_name not like 'kysely_%' order by 1`.execute(db);
  return rows.map((r) => r.name);
}

describe('migrations', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase({ migrate: false });
  });
  afterAll(() => t?.close());

  it('find the migrations folder next to src/', () => {
    expect(MIGRATIONS_FOLDER).toMatch(/\/migrations\/$/);
  });

  it('round trip: latest, down one step, up again gives the same schema as a fresh install', async () => {
    expect(await tableNames(t.db)).toEqual([]);
    const first = await migrateToLatest(t.db);
    expect(first.migrated.map((m) => m.name)).toContain('0001_warehouse');
    const fresh = await schemaSnapshot(t.db);
    expect(await tableNames(t.db)).toEqual(
      expect.arrayContaining(['bucket_state', 'loss_fact', 'platform', 'push_loss', 'stage', 'tim_call']),
    );

    const status = await migrationStatus(t.db);
    const last = status[status.length - 1]!;
    const down = await migrateDown(t.db);
    expect(down.migrated).toEqual([{ name: last.name, direction: 'Down' }]);
    expect(await schemaSnapshot(t.db)).not.toEqual(fresh);

    const up = await migrateToLatest(t.db);
    expect(up.migrated).toEqual([{ name: last.name, direction: 'Up' }]);
    expect(await schemaSnapshot(t.db)).toEqual(fresh);

    // Nothing left to do: a no-op, not an error.
    expect(await migrateToLatest(t.db)).toEqual({ migrated: [] });
  });
});

describe('concurrent migrators on a fresh database', () => {
  it('all succeed; the schema is applied exactly once', async () => {
    // Several rounds on a server, each on a new database, to give the race a real chance.
    const rounds = process.env.TEST_DB === 'pglite' || !process.env.TEST_DATABASE_URL ? 1 : 3;
    for (let round = 0; round < rounds; round++) {
      const t = await createTestDatabase({ migrate: false });
      const second = await openSecondConnection(t);
      try {
        // On a server: two pools, as two processes would have (Kysely's advisory lock serializes
        // them). On PGlite: migrators sharing the single connection.
        const other = second?.db ?? t.db;
        const reports = await Promise.all([migrateToLatest(t.db), migrateToLatest(other), migrateToLatest(other)]);
        const applied = reports.flatMap((r) => r.migrated.map((m) => m.name));
        const status = await migrationStatus(t.db);
        expect(applied.sort()).toEqual(status.map((m) => m.name).sort());
        expect(status.every((m) => m.executedAt instanceof Date)).toBe(true);
        expect(await tableNames(t.db)).toContain('push_loss');
      } finally {
        await second?.close();
        await t.close();
      }
    }
  });
});

describe('0013: final only at the horizon', () => {
  it('reopens the buckets the 48 h rule made final inside their horizon, moves the watermark back; down restores', async () => {
    const t = await createTestDatabase({ migrate: false });
    try {
      const migrator = createMigrator(t.db);
      const names = (await migrator.getMigrations()).map((m) => m.name);
      const before = names[names.indexOf('0013_settle_until_horizon') - 1]!;
      await migrator.migrateTo(before);
      const DAY = 86_400_000;
      const now = Date.now();
      const midnight = Math.floor(now / DAY) * DAY;
      // Day k: started k days ago; fetched 50 h after its end (final by the old rule), except day 1.
      const day = (k: number) => ({ start: new Date(midnight - k * DAY), end: new Date(midnight - (k - 1) * DAY) });
      for (const [table, call] of [
        ['bucket_state', 'tim_call'],
        ['stats_bucket_state', 'stats_call'],
      ] as const) {
        for (const k of [1, 3, 5, 12, 40]) {
          const { start, end } = day(k);
          const fetched = new Date(Math.min(now, end.getTime() + (k === 1 ? 3_600_000 : 50 * 3_600_000)));
          const { rows } = await sql<{ id: string }>`
            insert into ${sql.table(call)} (sdkappid, window_start, window_end, started_at, duration_ms, attempt, host, outcome)
            values (1, ${start}, ${end}, ${fetched}, 5, 1, 'h', 'ok') returning id`.execute(t.db);
          await sql`
            insert into ${sql.table(table)} (sdkappid, bucket_start, bucket_size, bucket_end, first_fetched_at,
                                             last_fetched_at, fetch_count, last_call_id, final)
            values (1, ${start}, '1d', ${end}, ${fetched}, ${fetched}, 1, ${rows[0]!.id}, ${k !== 1})`.execute(t.db);
        }
        const appTable = table === 'bucket_state' ? 'app_state' : 'stats_app_state';
        await sql`insert into ${sql.table(appTable)} (sdkappid, bucket_size, covered_from, first_seen_at)
                  values (1, '1d', ${day(1).start}, ${new Date(now)})`.execute(t.db);
      }
      const finals = async (table: string) =>
        (
          await sql<{ k: number }>`
            select round(extract(epoch from (${new Date(midnight)}::timestamptz - bucket_start)) / 86400)::int as k
              from ${sql.table(table)} where final order by 1`.execute(t.db)
        ).rows.map((r) => r.k);
      const covered = async (table: string) =>
        (await sql<{ c: Date }>`select covered_from as c from ${sql.table(table)}`.execute(t.db)).rows[0]!.c;
      expect(await finals('bucket_state')).toEqual([3, 5, 12, 40]);

      await migrateToLatest(t.db);
      // Loss: days 3 and 5 are inside the 7-day horizon, pending again; 12 and 40 stay final.
      expect(await finals('bucket_state')).toEqual([12, 40]);
      expect(await covered('app_state')).toEqual(day(5).start);
      // Statistics: 3, 5 and 12 are inside the 30-day horizon.
      expect(await finals('stats_bucket_state')).toEqual([40]);
      expect(await covered('stats_app_state')).toEqual(day(12).start);
      // A bucket the horizon passed with an answer reads "settled early", without one "lost".
      await sql`update bucket_state set lost_at = now() where bucket_start = ${day(5).start}`.execute(t.db);
      await sql`insert into bucket_state (sdkappid, bucket_start, bucket_size, bucket_end, lost_at)
                values (1, ${day(8).start}, '1d', ${day(8).end}, now())`.execute(t.db);
      const states = await sql<{ state: string }>`
        select state from collection_status where bucket_start in (${day(5).start}, ${day(8).start}) order by bucket_start`.execute(
        t.db,
      );
      expect(states.rows.map((r) => r.state)).toEqual(['lost', 'settled early']);

      await migrator.migrateTo(before);
      expect(await finals('bucket_state')).toEqual([3, 5, 12, 40]);
      expect(await finals('stats_bucket_state')).toEqual([3, 5, 12, 40]);
    } finally {
      await t.close();
    }
  });
});
