import { sql, type Kysely } from 'kysely';
import { systemClock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { CallGate } from '../tencent/callGate.ts';

/**
 * The 1 call/second cap across processes: every process reserves an app's next call slot from one
 * `rate_slot` row, on the database's clock (see README, "Rate cap"). A caller that cannot start
 * within `latenessBudgetMs` of its slot gives it up and reserves another, because a late start
 * eats into the next caller's gap.
 */
export function sharedSlotGate(
  db: Kysely<Database>,
  minIntervalMs: number,
  latenessBudgetMs = latenessBudget(minIntervalMs),
  /** `stats_rate_slot` gives statistics calls slots of their own (STATS_OWN_RATE_SLOT). */
  table: 'rate_slot' | 'stats_rate_slot' = 'rate_slot',
): CallGate {
  const interval = sql`(${minIntervalMs}::float8 * interval '1 millisecond')`;
  const slot = sql.table(table);
  return {
    async wait(sdkappid, signal) {
      for (;;) {
        signal?.throwIfAborted();
        // `asked` is taken once a connection is ours, so waiting for a pooled connection does
        // not count as lateness; only the reservation's own round trip does.
        const { asked, waitMs } = await db.connection().execute(async (connection) => {
          const asked = performance.now();
          const { rows } = await sql<{ wait_ms: number }>`
            insert into ${slot} as s (sdkappid, next_at) values (${sdkappid}, clock_timestamp() + ${interval})
            on conflict (sdkappid) do update
              set next_at = greatest(s.next_at, clock_timestamp()) + ${interval}
            returning greatest(0, extract(epoch from (next_at - clock_timestamp())) * 1000 - ${minIntervalMs})::float8 as wait_ms`.execute(
            connection,
          );
          return { asked, waitMs: Number(rows[0]!.wait_ms) };
        });
        // The database read its clock after `asked`, so the slot is at `asked + waitMs` or later:
        // waiting `waitMs` from now never starts early. Real time, never an injected clock.
        if (waitMs > 0) await systemClock.sleep(waitMs, signal);
        const lateBy = performance.now() - (asked + waitMs);
        if (lateBy <= latenessBudgetMs) return;
      }
    },
  };
}

/**
 * How late a start may be: 50 ms, or 1/11 of a shorter (loopback) interval. The config keeps a
 * remote interval at 1100 ms or more, so a call still starts 1050 ms after the previous one.
 */
export function latenessBudget(minIntervalMs: number): number {
  return Math.min(50, minIntervalMs / 11);
}

/** Waits at each gate in turn. */
export function chainGates(...gates: CallGate[]): CallGate {
  return {
    async wait(sdkappid, signal) {
      for (const gate of gates) await gate.wait(sdkappid, signal);
    },
    sent(sdkappid) {
      for (const gate of gates) gate.sent?.(sdkappid);
    },
  };
}
