import { sql, type Kysely } from 'kysely';
import { systemClock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { RateGate } from '../tencent/rateGate.ts';

/**
 * The 1 call/second cap across processes. Each app has one `rate_slot` row holding the earliest
 * instant its next call may start; a caller reserves the next slot with one UPSERT (the row lock
 * queues concurrent callers) and then waits until its slot. The daemon, a backfill started
 * beside it and a second replica all reserve from the same row, so together they never start two
 * calls for one app closer than the interval. Times are the database's, so host clocks may differ.
 */
export function postgresGate(db: Kysely<Database>, minIntervalMs: number): RateGate {
  return {
    async wait(sdkappid, signal) {
      signal?.throwIfAborted();
      const interval = sql`(${minIntervalMs}::float8 * interval '1 millisecond')`;
      const { rows } = await sql<{ wait_ms: number }>`
        insert into rate_slot (sdkappid, next_at) values (${sdkappid}, clock_timestamp() + ${interval})
        on conflict (sdkappid) do update
          set next_at = greatest(rate_slot.next_at, clock_timestamp()) + ${interval}
        returning greatest(0, extract(epoch from (next_at - clock_timestamp())) * 1000 - ${minIntervalMs})::float8 as wait_ms`.execute(db);
      const waitMs = Number(rows[0]!.wait_ms);
      // Real time, never an injected clock: the cap is about real seconds at Tencent's end.
      if (waitMs > 0) await systemClock.sleep(waitMs, signal);
    },
  };
}

/** Waits at each gate in turn. */
export function chainGates(...gates: RateGate[]): RateGate {
  return {
    async wait(sdkappid, signal) {
      for (const gate of gates) await gate.wait(sdkappid, signal);
    },
  };
}
