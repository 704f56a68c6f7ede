import { sql, type Kysely } from 'kysely';
import { systemClock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { CallGate } from '../tencent/callGate.ts';

/**
 * The 1 call/second cap across processes. Each app has one `rate_slot` row holding the earliest
 * instant its next call may start; a caller reserves the next slot with one UPSERT (the row lock
 * queues concurrent callers) and then waits until its slot. The daemon, a backfill started
 * beside it and a second replica all reserve from the same row, so together they never start two
 * calls for one app closer than the interval. Times are the database's, so host clocks may differ.
 *
 * A slot is only as good as the moment the call really starts. The database's answer can arrive
 * late (a busy pool, a busy event loop) and a timer can fire late; a call that starts late eats
 * into the gap before the NEXT caller's slot. So a caller that cannot start within
 * `latenessBudgetMs` of its slot gives it up and reserves a new one: two starts are then never
 * closer than `minIntervalMs - latenessBudgetMs` (1200 - 50 ms by default).
 */
export function sharedSlotGate(
  db: Kysely<Database>,
  minIntervalMs: number,
  latenessBudgetMs = latenessBudget(minIntervalMs),
): CallGate {
  const interval = sql`(${minIntervalMs}::float8 * interval '1 millisecond')`;
  return {
    async wait(sdkappid, signal) {
      for (;;) {
        signal?.throwIfAborted();
        // `asked` is taken once a connection is ours, so waiting for a pooled connection does
        // not count as lateness; only the reservation's own round trip does.
        const { asked, waitMs } = await db.connection().execute(async (connection) => {
          const asked = performance.now();
          const { rows } = await sql<{ wait_ms: number }>`
            insert into rate_slot (sdkappid, next_at) values (${sdkappid}, clock_timestamp() + ${interval})
            on conflict (sdkappid) do update
              set next_at = greatest(rate_slot.next_at, clock_timestamp()) + ${interval}
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
  };
}
