import { sql, type Kysely } from 'kysely';
import { systemClock } from '../clock.ts';
import type { Database } from '../db/database.ts';
import type { CallGate } from '../tencent/callGate.ts';

/**
 * The 1 call/second cap across processes: every process reserves an app's next call slot from one
 * `rate_slot` row, on the database's clock (see README, "Rate cap"). A caller that cannot start
 * within `latenessBudgetMs` of its slot gives it up and reserves another, because a late start
 * eats into the next caller's gap.
 *
 * A call can still reach the network late after its start (a new TCP or TLS connection, a busy
 * event loop). Told so by `sent`, the gate moves the shared slot with it: `next_at` goes to a
 * full interval after that send, for slots not reserved yet, and `late_sent_at` records it, which
 * a caller already holding a slot checks when it wakes and waits out. The send's time is put on
 * the database's clock from the slot's (a local duration added to it), never read from a clock
 * inside the UPDATE.
 */
export function sharedSlotGate(
  db: Kysely<Database>,
  minIntervalMs: number,
  latenessBudgetMs = latenessBudget(minIntervalMs),
  /** Which of the app's slots (RATE_SLOTS): the feeds given the same one wait for each other. */
  slot = 'loss',
): CallGate {
  const interval = sql`(${minIntervalMs}::float8 * interval '1 millisecond')`;
  /** Per app, the slot its latest call started in: on the database's clock and on ours. */
  const started = new Map<number, { slotAtMs: number; localAt: number; reportedLateMs: number }>();

  async function reportLateSend(sdkappid: number, sentAt: Date): Promise<void> {
    await sql`update rate_slot set next_at = greatest(next_at, ${sentAt}::timestamptz + ${interval}),
                                   late_sent_at = greatest(late_sent_at, ${sentAt}::timestamptz)
               where sdkappid = ${sdkappid} and slot = ${slot}`.execute(db);
  }

  return {
    async wait(sdkappid, signal) {
      for (;;) {
        signal?.throwIfAborted();
        // `asked` is taken once a connection is ours, so waiting for a pooled connection does
        // not count as lateness; only the reservation's own round trip does.
        const { asked, waitMs, slotAtMs } = await db.connection().execute(async (connection) => {
          const asked = performance.now();
          const { rows } = await sql<{ wait_ms: number; slot_at_ms: number }>`
            insert into rate_slot as s (sdkappid, slot, next_at) values (${sdkappid}, ${slot}, clock_timestamp() + ${interval})
            on conflict (sdkappid, slot) do update
              set next_at = greatest(s.next_at, clock_timestamp()) + ${interval}
            returning greatest(0, extract(epoch from (next_at - clock_timestamp())) * 1000 - ${minIntervalMs})::float8 as wait_ms,
                      (extract(epoch from next_at) * 1000 - ${minIntervalMs})::float8 as slot_at_ms`.execute(
            connection,
          );
          return { asked, waitMs: Number(rows[0]!.wait_ms), slotAtMs: Number(rows[0]!.slot_at_ms) };
        });
        // The database read its clock after `asked`, so the slot is at `asked + waitMs` or later:
        // waiting `waitMs` from now never starts early. Real time, never an injected clock.
        let startAt = asked + waitMs;
        if (waitMs > 0) {
          await systemClock.sleep(waitMs, signal);
          // A call sent late while this one slept: a full interval after it, then.
          const checked = performance.now();
          const { rows } = await sql<{ wait_ms: number | null }>`
            select greatest(0, extract(epoch from (late_sent_at + ${interval} - clock_timestamp())) * 1000)::float8 as wait_ms
              from rate_slot where sdkappid = ${sdkappid} and slot = ${slot}`.execute(db);
          const extraMs = Number(rows[0]?.wait_ms ?? 0);
          if (extraMs > 0) {
            await systemClock.sleep(extraMs, signal);
            startAt = checked + extraMs;
          }
        }
        const lateBy = performance.now() - startAt;
        if (lateBy <= latenessBudgetMs) {
          // This call's send is judged against its reserved slot (`asked + waitMs` on our clock).
          started.set(sdkappid, { slotAtMs, localAt: asked + waitMs, reportedLateMs: latenessBudgetMs });
          return;
        }
      }
    },
    sent(sdkappid) {
      const call = started.get(sdkappid);
      if (!call) return;
      const lateMs = performance.now() - call.localAt;
      // Within the budget the next caller's gap holds; past it, each further delay is reported.
      if (lateMs <= call.reportedLateMs) return;
      call.reportedLateMs = lateMs;
      // Not awaited: the request is on its way. Should the update fail, only the correction is
      // lost; database trouble shows in the load that follows.
      reportLateSend(sdkappid, new Date(call.slotAtMs + lateMs)).catch(() => {});
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
