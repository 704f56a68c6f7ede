import { sql, type Kysely } from 'kysely';
import { systemClock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import { FEED_NAMES } from '../tencent/apis.ts';
import type { CallGate } from '../tencent/callGate.ts';

export interface SharedSlotOptions {
  /** How late a start may be before its slot is given up; default {@link latenessBudget}. */
  latenessBudgetMs?: number;
  /**
   * Which of the app's slots (RATE_SLOTS): the feeds given one wait for each other. Default the
   * slot every feed shares under RATE_SLOTS=shared, named after the first feed.
   */
  slot?: string;
  /**
   * Whether sends take the slot's row lock at the socket (default true). Off on PGlite: one
   * process holds its data directory, so there is no other process to keep apart, and the
   * in-process gate already spaces the sends; its single connection is better left to loads.
   */
  atSocket?: boolean;
}

/**
 * The 1 call/second cap across processes (see docs/architecture.md, "Rate cap"), in two steps on
 * one `rate_slot` row per app.
 *
 * `wait` reserves the app's next slot, on the database's clock: it spaces the processes' starts
 * so they rarely meet at the socket. A caller that cannot start within `latenessBudgetMs` of its
 * slot gives it up and reserves another.
 *
 * `send` is what holds the cap. A started call can still reach the network late (a new TCP or TLS
 * connection, a busy event loop), after a call whose slot came later: no check made before the
 * socket can see that. So the request's bytes are written only while the app's row is locked FOR
 * UPDATE, in a transaction that first checks the previous send (`sent_at`) is an interval old,
 * then records this one. The turn and the send's record are one atomic step at the moment the
 * bytes leave, and no process can write within an interval of another's bytes.
 *
 * The reader role (`pushloss_reader`) has no privilege on these tables, so it can neither read
 * nor lock the row. The lock's wait ends with the holder's transaction: a write and two round
 * trips, never a sleep (a send that is early lets go of the row, sleeps, and asks again).
 */
export function sharedSlotGate(db: Kysely<Database>, minIntervalMs: number, options: SharedSlotOptions = {}): CallGate {
  const { latenessBudgetMs = latenessBudget(minIntervalMs), slot = FEED_NAMES[0], atSocket = true } = options;
  const interval = sql`(${minIntervalMs}::float8 * interval '1 millisecond')`;

  /** One try at the socket: the wait still needed (ms), or null once the bytes are written. */
  async function trySend(sdkappid: number, write: () => Promise<void>): Promise<number | null> {
    return db.transaction().execute(async (trx) => {
      const asked = performance.now();
      // The CTE takes the lock; the outer select reads the clock after it is granted (in a plain
      // SELECT ... FOR UPDATE the clock is read before the wait when the holder only locked).
      // Only a SELECT reads the clock: the UPDATE below is given its time.
      const { rows } = await sql<{ now_ms: number; sent_ms: number | null }>`
        with locked as materialized (select sent_at from rate_slot where sdkappid = ${sdkappid} and slot = ${slot} for update)
        select (extract(epoch from clock_timestamp()) * 1000)::float8 as now_ms,
               (extract(epoch from sent_at) * 1000)::float8 as sent_ms
          from locked`.execute(trx);
      const row = rows[0];
      if (!row) {
        // No row yet (`wait` makes one; a test or an operator may have deleted it).
        await sql`insert into rate_slot (sdkappid, slot, next_at) values (${sdkappid}, ${slot}, '-infinity') on conflict do nothing`.execute(
          trx,
        );
        return 0;
      }
      const nowMs = Number(row.now_ms);
      const earlyMs = row.sent_ms === null ? 0 : Number(row.sent_ms) + minIntervalMs - nowMs;
      if (earlyMs > 0) return earlyMs;
      await write();
      // When the bytes were written, on the database's clock: its clock was read after `asked`,
      // so this is never earlier than the write (at most a round trip later, which only widens
      // the next gap). Reservations not made yet start a full interval after it.
      const sentMs = nowMs + (performance.now() - asked);
      await sql`update rate_slot set sent_at = to_timestamp(${sentMs}::float8 / 1000),
                                   next_at = greatest(next_at, to_timestamp(${sentMs}::float8 / 1000) + ${interval})
                 where sdkappid = ${sdkappid} and slot = ${slot}`.execute(trx);
      return null;
    });
  }

  async function wait(sdkappid: number, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      // `asked` is taken once a connection is ours, so waiting for a pooled connection does
      // not count as lateness; only the reservation's own round trip does.
      const { asked, waitMs } = await db.connection().execute(async (connection) => {
        const asked = performance.now();
        const { rows } = await sql<{ wait_ms: number }>`
          insert into rate_slot as s (sdkappid, slot, next_at) values (${sdkappid}, ${slot}, clock_timestamp() + ${interval})
          on conflict (sdkappid, slot) do update
            set next_at = greatest(s.next_at, clock_timestamp()) + ${interval}
          returning greatest(0, extract(epoch from (next_at - clock_timestamp())) * 1000 - ${minIntervalMs})::float8 as wait_ms`.execute(
          connection,
        );
        return { asked, waitMs: Number(rows[0]!.wait_ms) };
      });
      // The database read its clock after `asked`, so the slot is at `asked + waitMs` or later:
      // waiting `waitMs` from now never starts early. Real time, never an injected clock.
      const startAt = asked + waitMs;
      if (waitMs > 0) await systemClock.sleep(waitMs, signal);
      if (performance.now() - startAt <= latenessBudgetMs) return;
    }
  }

  async function send(sdkappid: number, write: () => Promise<void>, signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const earlyMs = await trySend(sdkappid, write);
      if (earlyMs === null) return;
      if (earlyMs > 0) await systemClock.sleep(earlyMs, signal);
    }
  }

  return atSocket ? { wait, send } : { wait };
}

/**
 * How late a start may be: 50 ms, or 1/11 of a shorter (loopback) interval. The config keeps a
 * remote interval at 1100 ms or more, so a call still starts 1050 ms after the previous one.
 */
export function latenessBudget(minIntervalMs: number): number {
  return Math.min(50, minIntervalMs / 11);
}

/** Waits at each gate in turn; a send holds every gate's turn, the first gate's outermost. */
export function chainGates(...gates: CallGate[]): CallGate {
  return {
    async wait(sdkappid, signal) {
      for (const gate of gates) await gate.wait(sdkappid, signal);
    },
    send(sdkappid, write, signal) {
      const held = gates.reduceRight<() => Promise<void>>(
        (inner, gate) => (gate.send ? () => gate.send!(sdkappid, inner, signal) : inner),
        write,
      );
      return held();
    },
  };
}
