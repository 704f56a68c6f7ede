import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/clock.ts';
import { manualClock } from '../helpers/clock.ts';
import { loadConfig, loopbackApp, type AppConfig, type Config } from '../../src/config/config.ts';
import { Secret } from '../../src/secret.ts';
import { inProcessGate, type CallGate } from '../../src/tencent/callGate.ts';
import { createTimClient, type TimClientDeps } from '../../src/tencent/client.ts';
import { TimApiError } from '../../src/tencent/errors.ts';
import type { CallRecord } from '../../src/tencent/loss.ts';
import { generateUserSig } from '../../src/tencent/usersig.ts';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { defaultLossData, finishedPart, sumLossEntries } from '../helpers/simulator.ts';
import { capturedLogger } from '../helpers/logs.ts';
import { freePort } from '../helpers/process.ts';

const SECRET = 'sim-secret-key-0123456789abcdef';
const APP = 1400000001;
const DAY = 86_400;
// A fixed "now": Thursday 2026-11-26 12:00 Beijing time. Yesterday's Beijing day is complete.
const NOW_MS = Date.UTC(2026, 10, 26, 4, 0, 0);
const yesterday = { start: Date.UTC(2026, 10, 24, 16) / 1000, end: Date.UTC(2026, 10, 25, 16) / 1000 };

const api = (overrides: Partial<Config['api']> = {}): Config['api'] => ({
  // Well above the simulator's 20 ms, as production's 1200 ms is above Tencent's 1000 ms: the
  // margin absorbs a busy machine's jitter between our start and the simulator's arrival time.
  minIntervalMs: 50,
  timeoutMs: 1_000,
  maxAttempts: 4,
  ...overrides,
});

const appFor = (baseUrls: string[]): AppConfig => loopbackApp(APP, SECRET, baseUrls);

let sim: Simulator;
let clock: ReturnType<typeof manualClock>;

function client(overrides: Partial<TimClientDeps> & { baseUrls?: string[]; clockOverride?: Clock } = {}) {
  const log = capturedLogger();
  const failed: CallRecord[] = [];
  const tim = createTimClient(appFor(overrides.baseUrls ?? [sim.url]), {
    api: api(),
    logger: log.logger,
    clock: overrides.clockOverride ?? clock,
    onFailedCall: (call) => void failed.push(call),
    ...overrides,
  });
  return { tim, log, failed };
}

beforeAll(async () => {
  clock = manualClock(NOW_MS);
  sim = await startSimulator({ apps: [{ sdkappid: APP, secretKey: SECRET }], clock, minIntervalMs: 20 });
});
afterEach(() => {
  sim.reset();
  clock.set(NOW_MS);
});
afterAll(() => sim.close());

describe('normal_push_loss client against the simulator', () => {
  it('fetches the window exactly as the simulator computed it', async () => {
    const { tim } = client();
    const { entries, call } = await tim.normalPushLoss(yesterday);
    const expected = sumLossEntries(defaultLossData(APP, finishedPart(yesterday, NOW_MS)));
    expect(entries.length).toBeGreaterThan(0);
    expect(sumLossEntries(entries)).toEqual(expected);
    expect(call).toMatchObject({
      sdkappid: APP,
      window: yesterday,
      attempt: 1,
      httpStatus: 200,
      errorCode: 0,
      actionStatus: 'OK',
      outcome: 'ok',
    });
    expect(JSON.parse(call.body!)).toHaveProperty('ReadyToSendLoss');
    expect(sim.calls).toHaveLength(1);
    expect(JSON.parse(sim.calls[0]!.body)).toEqual({ StartTime: yesterday.start, EndTime: yesterday.end });
  });

  it('sends a fresh random on every call', async () => {
    const { tim } = client();
    for (let i = 0; i < 5; i++) await tim.normalPushLoss(yesterday);
    const randoms = sim.calls.map((c) => c.random);
    expect(sim.calls.filter((c) => c.errorCode === 0)).toHaveLength(5);
    expect(new Set(randoms).size).toBe(sim.calls.length); // retries included, if a busy machine caused any
  });

  it.each([
    ['an empty window', { start: yesterday.start, end: yesterday.start }, /EndTime .* is not after StartTime/],
    ['a window over 7 days', { start: yesterday.end - 8 * DAY, end: yesterday.end }, /longer than the API's 604800 s/],
    [
      'a window before the horizon',
      { start: NOW_MS / 1000 - 7 * DAY - 60, end: NOW_MS / 1000 - 6 * DAY },
      /before the API's horizon/,
    ],
  ])('refuses %s without calling', async (_name, window, message) => {
    const { tim } = client();
    await expect(tim.normalPushLoss(window)).rejects.toMatchObject({
      code: 'WINDOW_REJECTED',
      message: expect.stringMatching(message),
    });
    expect(sim.calls).toHaveLength(0);
  });

  it('retries a 502 and a timeout, archiving each failed call', async () => {
    sim.fail({ kind: 'http', status: 502 });
    sim.fail({ kind: 'timeout' });
    const { tim, failed } = client({ api: api({ timeoutMs: 300 }) });
    const { call } = await tim.normalPushLoss(yesterday);
    expect(call.attempt).toBe(3);
    expect(failed.map((c) => [c.attempt, c.outcome, c.httpStatus])).toEqual([
      [1, 'retryable', 502],
      [2, 'retryable', null],
    ]);
    expect(sim.calls).toHaveLength(3);
  });

  it('retries transient Tencent codes and backs off longer on rate limits', async () => {
    sim.fail({ kind: 'error', code: 90102 });
    sim.fail({ kind: 'error', code: 60011 });
    const { tim, failed } = client();
    const before = clock.now();
    await tim.normalPushLoss(yesterday);
    expect(failed.map((c) => [c.errorCode, c.outcome])).toEqual([
      [90102, 'retryable'],
      [60011, 'rate_limited'],
    ]);
    // 1st backoff 500..1000 ms, then a rate-limit backoff of at least 5 s (the injected clock counts sleeps).
    expect(clock.now() - before).toBeGreaterThanOrEqual(500 + 5_000);
  });

  it('stops at once on a fatal code, with the code, Tencent message and advice', async () => {
    sim.fail({ kind: 'error', code: 90045, info: 'push service not enabled' });
    const { tim, failed } = client();
    const error = await tim.normalPushLoss(yesterday).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimApiError);
    expect(error).toMatchObject({
      code: 'TIM_90045',
      failure: 'fatal',
      tencentCode: 90045,
      sdkappid: APP,
      attempt: 1,
      fatalForApp: true,
    });
    expect((error as Error).message).toMatch(
      /Tencent error 90045: push service not enabled; Push service not enabled: enable Push/,
    );
    expect(sim.calls).toHaveLength(1);
    expect(failed).toHaveLength(1);
  });

  it('gives up after maxAttempts', async () => {
    sim.fail({ kind: 'http', status: 503 }, { times: 10 });
    const { tim } = client({ api: api({ maxAttempts: 3 }) });
    await expect(tim.normalPushLoss(yesterday)).rejects.toMatchObject({
      code: 'RETRYABLE',
      attempt: 3,
      message: expect.stringMatching(/gave up after 3 attempts/),
    });
    expect(sim.calls).toHaveLength(3);
  });

  it('rejects an unreadable answer and keeps its body for the archive', async () => {
    sim.fail({
      kind: 'body',
      body: '{"ActionStatus":"OK","ErrorCode":0,"ReadyToSendLoss":[{"ErrCode":"1","ErrCount":-5}]}',
    });
    const { tim, failed } = client();
    await expect(tim.normalPushLoss(yesterday)).rejects.toMatchObject({
      failure: 'invalid_response',
      message: expect.stringMatching(/ErrCount is not a non-negative integer/),
    });
    expect(failed[0]).toMatchObject({ outcome: 'invalid_response', body: expect.stringContaining('"ErrCount":-5') });
  });

  it('renews the UserSig once on 70001, then succeeds', async () => {
    sim.fail({ kind: 'error', code: 70001 });
    const { tim, failed } = client();
    const { call } = await tim.normalPushLoss(yesterday);
    expect(call.attempt).toBe(2);
    expect(failed.map((c) => c.outcome)).toEqual(['renew_signature']);
  });

  it('treats a second 70001 as fatal', async () => {
    sim.fail({ kind: 'error', code: 70001 }, { times: 2 });
    const { tim } = client();
    await expect(tim.normalPushLoss(yesterday)).rejects.toMatchObject({ code: 'TIM_70001', fatalForApp: true });
    expect(sim.calls).toHaveLength(2);
  });

  it('moves to the backup domain when the primary fails at the network level', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    const { tim, failed } = client({ baseUrls: [dead, sim.url] });
    const { call } = await tim.normalPushLoss(yesterday);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ host: new URL(dead).host, httpStatus: null, outcome: 'retryable' });
    expect(call.host).toBe(new URL(sim.url).host);
  });

  it('spaces concurrent calls for one app by the interval, measured at the server', async () => {
    const { tim } = client({ api: api({ minIntervalMs: 120 }) });
    await Promise.all([0, 1, 2, 3, 4].map(() => tim.normalPushLoss(yesterday)));
    expect(sim.calls.map((c) => c.errorCode)).toEqual([0, 0, 0, 0, 0]);
    const gaps = sim.calls.slice(1).map((c, i) => c.receivedAtMono - sim.calls[i]!.receivedAtMono);
    // Five calls at once would arrive within a few ms without the gate; with it, ~120 ms apart
    // (less whatever a busy machine adds to one arrival and not the next).
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(80);
  });

  it('without the gate, the simulator does answer 60011 (the check above can fail)', async () => {
    const slowSim = await startSimulator({ apps: [{ sdkappid: APP, secretKey: SECRET }], clock, minIntervalMs: 1000 });
    try {
      const { tim, failed } = client({ baseUrls: [slowSim.url], api: api({ minIntervalMs: 1, maxAttempts: 1 }) });
      const results = await Promise.allSettled([tim.normalPushLoss(yesterday), tim.normalPushLoss(yesterday)]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect(failed[0]?.errorCode).toBe(60011);
    } finally {
      await slowSim.close();
    }
  });

  it('logs one line per call with app, window, duration and outcome, and never a secret', async () => {
    sim.fail({ kind: 'error', code: 60011 });
    sim.fail({ kind: 'timeout' });
    const { tim, log } = client({ api: api({ timeoutMs: 300 }) });
    const result = await tim.normalPushLoss(yesterday);
    const calls = log.lines().filter((line) => line.msg === 'normal_push_loss call');
    expect(calls.map((l) => [l.app, l.attempt, l.outcome, l.errorCode ?? null])).toEqual([
      [APP, 1, 'rate_limited', 60011],
      [APP, 2, 'retryable', null],
      [APP, 3, 'ok', 0],
    ]);
    expect(
      calls.every((l) => typeof l.durationMs === 'number' && (l.window as { start: number }).start === yesterday.start),
    ).toBe(true);
    const sig = generateUserSig({
      sdkappid: APP,
      identifier: 'administrator',
      secretKey: new Secret(SECRET),
      time: Math.floor(NOW_MS / 1000),
      expire: 172800,
    });
    expect(log.text()).not.toContain(SECRET);
    expect(log.text()).not.toContain(sig);
    expect(log.text()).not.toMatch(/usersig=/i);
    expect(JSON.stringify(result.call)).not.toContain(sig);
  });

  it('keeps secrets out of error messages too', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`; // nothing listens there
    const { tim } = client({ baseUrls: [dead], api: api({ maxAttempts: 2 }) });
    const error = (await tim.normalPushLoss(yesterday).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.message).not.toMatch(/usersig|sim-secret|\?/i);
    expect(JSON.stringify(error)).not.toMatch(/usersig|sim-secret/i);
  });
});

describe('the real 1 call/second cap', () => {
  it('three concurrent calls with the default interval arrive at least 1 s apart and none is refused', async () => {
    const realSim = await startSimulator({ apps: [{ sdkappid: APP, secretKey: SECRET }], minIntervalMs: 1000 });
    try {
      const now = systemClock.now();
      const window = { start: Math.floor(now / 1000) - 2 * DAY, end: Math.floor(now / 1000) - DAY };
      const tim = createTimClient(appFor([realSim.url]), {
        api: api({ minIntervalMs: loadConfig({}).api.minIntervalMs }),
        logger: capturedLogger().logger,
      });
      await Promise.all([tim.normalPushLoss(window), tim.normalPushLoss(window), tim.normalPushLoss(window)]);
      expect(realSim.calls.map((c) => c.errorCode)).toEqual([0, 0, 0]);
      const gaps = realSim.calls.slice(1).map((c, i) => c.receivedAtMono - realSim.calls[i]!.receivedAtMono);
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1000);
    } finally {
      await realSim.close();
    }
  }, 15_000);

  it('the in-process gate never lets a write start less than the interval after the previous one was written', async () => {
    // A timer may fire up to a millisecond before its delay is up (Node counts it from the event
    // loop's whole-millisecond clock), so a gate that trusts one sleep can release a write early.
    const gate = inProcessGate(20);
    const writes: { start: number; end: number }[] = [];
    const write = async () => {
      const start = performance.now();
      await systemClock.sleep(1);
      writes.push({ start, end: performance.now() });
    };
    await Promise.all(Array.from({ length: 30 }, () => gate.send!(APP, write)));
    const gaps = writes.slice(1).map((w, i) => w.start - writes[i]!.end);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(20);
  });

  it('a request held up after its turn at the gate pushes the next one back: the gap holds on the wire', async () => {
    const realSim = await startSimulator({ apps: [{ sdkappid: APP, secretKey: SECRET }], minIntervalMs: 200 });
    try {
      const now = systemClock.now();
      const window = { start: Math.floor(now / 1000) - 2 * DAY, end: Math.floor(now / 1000) - DAY };
      // The first call gets its turn, then the event loop is busy for 150 ms before the request
      // can leave (as when the embedded database runs other apps' loads on this thread).
      // The gate spaces writes by 240 ms against the simulator's 200, as production's 1200 ms
      // stands above Tencent's 1000: the simulator shares this thread, so it reads a request
      // only when the client's code lets go of the loop, and a stall after the first write
      // (10 ms and more on a loaded machine) makes that arrival late and the gap after it look
      // short. Spacing by the starts alone would still put the second request about 90 ms after
      // the first (240 - 150), refused: the test fails unless the hold-up pushes it back.
      const inner = inProcessGate(240);
      let held = false;
      const gate: CallGate = {
        async wait(sdkappid, signal) {
          await inner.wait(sdkappid, signal);
          if (held) return;
          held = true;
          queueMicrotask(() => {
            const until = performance.now() + 150;
            while (performance.now() < until);
          });
        },
        send: (sdkappid, write, signal) => inner.send!(sdkappid, write, signal),
      };
      const tim = createTimClient(appFor([realSim.url]), {
        api: api({ minIntervalMs: 240, maxAttempts: 1 }),
        logger: capturedLogger().logger,
        gate,
      });
      await Promise.all([tim.normalPushLoss(window), tim.normalPushLoss(window)]);
      expect(realSim.calls.map((c) => c.errorCode)).toEqual([0, 0]);
      expect(realSim.calls[1]!.receivedAtMono - realSim.calls[0]!.receivedAtMono).toBeGreaterThanOrEqual(200);
    } finally {
      await realSim.close();
    }
  });
});
