/**
 * The shared rate slot across processes (issue 17, break 1): a call that reaches the network
 * later than its slot (a slow TCP or TLS connect, a busy event loop) moves the slot with it, so
 * another process's next call still arrives a full interval after it.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainGates, latenessBudget, sharedSlotGate } from '../src/collect/rateSlots.ts';
import { systemClock } from '../src/clock.ts';
import { loopbackApp, type Config } from '../src/config/config.ts';
import { startSimulator, type Simulator } from '../src/simulator/index.ts';
import { inProcessGate } from '../src/tencent/callGate.ts';
import { createHttp, createTimClient } from '../src/tencent/client.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { capturedLogger } from './helpers/logs.ts';
import { eventually } from './helpers/process.ts';

const APP = 1400000901;
const SECRET = 'rate-slot-secret-0123456789abcdef';
const INTERVAL = 400;
/** How long the slow process's connections take to open: well past the lateness budget. */
const CONNECT_DELAY = 250;
const DAY = 86_400;

let t: TestDatabase;
let sim: Simulator;
beforeAll(async () => {
  t = await createTestDatabase();
  // The simulator's own rule far below ours: the gaps are measured here, not refused there.
  sim = await startSimulator({ apps: [{ sdkappid: APP, secretKey: SECRET }], minIntervalMs: 20 });
});
afterAll(async () => {
  await sim?.close();
  await t?.close();
});

/** An HTTP client whose every connection opens `delayMs` late, as a slow TCP or TLS connect does. */
function slowConnectHttp(delayMs: number) {
  const agent = new http.Agent({ keepAlive: false });
  const slow = agent as unknown as {
    createConnection(options: net.NetConnectOpts, callback: (error: Error | null, socket: net.Socket) => void): void;
  };
  slow.createConnection = (options, callback) => {
    setTimeout(() => callback(null, net.createConnection(options)), delayMs);
  };
  const client = createHttp(5_000);
  client.defaults.httpAgent = agent;
  return client;
}

/** One process's client: its own in-process gate, the shared slot on the database. */
function processClient(http?: ReturnType<typeof createHttp>) {
  const api: Config['api'] = {
    minIntervalMs: INTERVAL,
    timeoutMs: 5_000,
    maxAttempts: 1,
  };
  return createTimClient(loopbackApp(APP, SECRET, [sim.url]), {
    api,
    logger: capturedLogger().logger,
    gate: chainGates(inProcessGate(INTERVAL), sharedSlotGate(t.db, INTERVAL)),
    ...(http ? { http } : {}),
  });
}

const reservedUntil = async () =>
  (await t.db.selectFrom('rate_slot').select('next_at').where('sdkappid', '=', APP).executeTakeFirst())?.next_at;

describe('the shared rate slot', () => {
  it("moves with a call that reaches the wire late: the other process's next call still waits a full interval", async () => {
    const slow = processClient(slowConnectHttp(CONNECT_DELAY));
    const punctual = processClient();
    const now = Math.floor(systemClock.now() / 1000);
    const window = { start: now - 2 * DAY, end: now - DAY };
    for (let round = 0; round < 3; round++) {
      // The slow process reserves first; the punctual one takes the next slot while the slow
      // call is still connecting.
      const before = (await reservedUntil())?.getTime() ?? 0;
      const slowCall = slow.normalPushLoss(window);
      await eventually(
        async () => ((await reservedUntil())?.getTime() ?? 0) > before || undefined,
        5_000,
        'the slow call to reserve its slot',
      );
      await Promise.all([slowCall, punctual.normalPushLoss(window)]);
    }
    expect(sim.calls.map((call) => call.errorCode)).toEqual([0, 0, 0, 0, 0, 0]);
    const arrivals = sim.calls.map((call) => call.receivedAtMono).sort((a, b) => a - b);
    const gaps = arrivals.slice(1).map((at, i) => at - arrivals[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(INTERVAL - latenessBudget(INTERVAL));
  }, 30_000);
});
