import { sql } from 'kysely';
import { describe, expect, inject, it } from 'vitest';
import { runSoak, type SoakOptions } from '../soak/soak.ts';
import {
  LOST_SINK_DDL,
  VIEW_FETCHED_IS_FINAL_DDL,
  finalAfter48h,
  loadDoesNotReplace,
  lostNotRecorded,
  plannerHorizonOf,
  plannerSkipsPending,
} from '../soak/sabotage.ts';

/**
 * Each soak invariant fails when its guarantee is broken on purpose (the full soak is
 * `npm run soak`; CI runs `npm run soak -- --seed 1 --days 14`). The soak cuts the connection to
 * PostgreSQL, so it needs a server: on PGlite these are skipped.
 */
const plan = inject('pushlossTestDb');
const serverUrl = plan.mode === 'server' ? plan.url : undefined;

async function soakViolations(options: Partial<SoakOptions>) {
  // No API faults: each sabotage alone, and quicker (no back-offs, no hanging calls).
  const report = await runSoak({ seed: 11, days: 3, serverUrl: serverUrl!, faultRate: 0, ...options });
  return report.violations;
}

describe.skipIf(!serverUrl)('soak invariants catch a broken guarantee', () => {
  it('a planner that skips pending buckets: not final though answerable, and status disagrees', async () => {
    const violations = await soakViolations({ sabotage: [plannerSkipsPending()] });
    const kinds = new Set(violations.map((v) => v.invariant));
    expect(kinds).toContain('final when answerable');
    expect(kinds).toContain('/metrics agrees with the database');
    // Replayable: every violation names the seed and the day, and the bucket when it is about one.
    const finalViolation = violations.find((v) => v.invariant === 'final when answerable')!;
    expect(finalViolation).toMatchObject({ seed: 11, day: expect.any(Number), bucket: expect.any(String) });
  }, 240_000);

  it('the old settle rule (final 48 h after the end) against counts that settle over 5 days: final differs from the truth at the horizon', async () => {
    const violations = await soakViolations({ days: 4, reconfigure: finalAfter48h });
    const found = violations.find((v) => v.invariant === 'final equals truth');
    expect(found).toMatchObject({ seed: 11, day: expect.any(Number), bucket: expect.any(String) });
  }, 240_000);

  it('a load that does not replace: the stored answer is not the latest, facts of two answers', async () => {
    const kinds = new Set((await soakViolations({ sabotage: [loadDoesNotReplace()] })).map((v) => v.invariant));
    expect(kinds).toContain('pending holds its latest answer');
    expect(kinds).toContain('nothing double counted');
  }, 240_000);

  it('buckets the horizon passed, not recorded as lost: missing without being lost', async () => {
    const violations = await soakViolations({
      days: 10,
      downtimes: [{ fromDay: 0.5, days: 8 }],
      prepare: async (db) => void (await sql.raw(LOST_SINK_DDL).execute(db)),
      sabotage: [lostNotRecorded()],
    });
    expect(new Set(violations.map((v) => v.invariant))).toContain('missing only when recorded lost');
  }, 240_000);

  it('a collection_status view that disagrees with the tables: status and the view disagree, bucket named', async () => {
    const violations = await soakViolations({
      days: 2,
      prepare: async (db) => void (await sql.raw(VIEW_FETCHED_IS_FINAL_DDL).execute(db)),
    });
    const found = violations.find((v) => v.invariant === 'status agrees with collection_status');
    expect(found).toMatchObject({
      seed: 11,
      day: expect.any(Number),
      app: expect.any(Number),
      bucket: expect.any(String),
    });
    // Pending buckets, and those the horizon passed before their final fetch (settled early).
    const details = violations
      .filter((v) => v.invariant === 'status agrees with collection_status')
      .map((v) => v.detail);
    expect(details).toContainEqual(expect.stringMatching(/status says pending, collection_status says final/));
  }, 240_000);

  it('a planner that marks reachable buckets lost (a 2-day horizon): lost before the horizon, bucket named', async () => {
    const violations = await soakViolations({ days: 2, reconfigure: plannerHorizonOf(2) });
    const found = violations.find((v) => v.invariant === 'lost only past the horizon');
    expect(found).toMatchObject({
      seed: 11,
      day: expect.any(Number),
      app: expect.any(Number),
      bucket: expect.any(String),
    });
    expect(found!.detail).toMatch(/^marked lost at /);
  }, 240_000);

  it('loads that do not mark their days for the all-apps sum: the rollup differs from the facts', async () => {
    const violations = await soakViolations({
      days: 2,
      prepare: async (db) =>
        void (await sql
          .raw(
            'drop trigger loss_all_stale_on_insert on loss_day_total; drop trigger loss_all_stale_on_delete on loss_day_total',
          )
          .execute(db)),
    });
    const found = violations.find((v) => v.invariant === 'rollups equal the facts');
    expect(found!.detail).toMatch(/^push_loss_codes_all_apps differs from its facts on \d{4}-\d\d-\d\d/);
  }, 240_000);

  it('a secret in a log line', async () => {
    const violations = await soakViolations({
      days: 2,
      leak: (log, secretKey) => log(`debugging: the key is ${secretKey}`),
    });
    expect(violations.map((v) => v.invariant)).toContain('no secret');
  }, 240_000);
});
