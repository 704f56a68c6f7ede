/**
 * The task-push APIs (`all_member_push_loss`, `all_member_push_statistics`) through the real
 * HTTP server and the real client: what the simulator serves is computed with its own exported
 * functions, what the client returns must match it exactly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loopbackApp, type Config } from '../../src/config/config.ts';
import { Secret } from '../../src/secret.ts';
import type { FeedName } from '../../src/tencent/apis.ts';
import { createTimClient, type TimClientDeps } from '../../src/tencent/client.ts';
import { TimApiError } from '../../src/tencent/errors.ts';
import type { CallRecord } from '../../src/tencent/loss.ts';
import { generateUserSig } from '../../src/tencent/usersig.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.ts';
import { allMemberLossData, allMemberStatsData, defaultTaskIds, finishedPart } from '../helpers/simulator.ts';
import { manualClock } from '../helpers/clock.ts';
import { capturedLogger } from '../helpers/logs.ts';

const APP = 1400000001;
const SECRET = 'all-member-secret-0123456789abcdef';
const QUIET_APP = 1400000002; // sends no task pushes
const DAY = 86_400;
// 2026-11-26 12:00 Beijing time; yesterday's Beijing day is complete.
const NOW_MS = Date.UTC(2026, 10, 26, 4, 0, 0);
const NOW = NOW_MS / 1000;
const yesterday = { start: Date.UTC(2026, 10, 24, 16) / 1000, end: Date.UTC(2026, 10, 25, 16) / 1000 };
const TASKS = defaultTaskIds(APP);
const LOSS_PATH = '/v4/timpush/all_member_push_loss';
const STATS_PATH = '/v4/timpush/all_member_push_statistics';

const api: Config['api'] = {
  minIntervalMs: 0,
  timeoutMs: 2_000,
  maxAttempts: 3,
};

const open: Simulator[] = [];
async function simulator(extra: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const sim = await startSimulator({
    apps: [
      { sdkappid: APP, secretKey: SECRET },
      { sdkappid: QUIET_APP, secretKey: SECRET, taskIds: [] },
    ],
    clock: manualClock(NOW_MS),
    minIntervalMs: 0,
    ...extra,
  });
  open.push(sim);
  return sim;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

function client(sim: Simulator, sdkappid = APP, deps: Partial<TimClientDeps> = {}) {
  const failed: Array<{ call: CallRecord; api: FeedName }> = [];
  const tim = createTimClient(loopbackApp(sdkappid, SECRET, [sim.url]), {
    api,
    logger: capturedLogger().logger,
    clock: manualClock(NOW_MS),
    onFailedCall: (call, name) => void failed.push({ call, api: name }),
    ...deps,
  });
  return { tim, failed };
}

/** One request by hand, to see the wire: the body as given, a valid signature. */
async function post(sim: Simulator, path: string, body: unknown, sdkappid = APP) {
  const usersig = generateUserSig({
    sdkappid,
    identifier: 'administrator',
    secretKey: new Secret(SECRET),
    time: NOW - 60,
    expire: DAY,
  });
  const query = new URLSearchParams({
    sdkappid: String(sdkappid),
    identifier: 'administrator',
    usersig,
    random: '12345',
    contenttype: 'json',
  });
  const res = await fetch(`${sim.url}${path}?${query}`, { method: 'POST', body: JSON.stringify(body) });
  return (await res.json()) as Record<string, unknown> & {
    ErrorCode: number;
    Results?: Array<Record<string, unknown>>;
  };
}
const window = (start: number, end: number) => ({ StartTime: start, EndTime: end });

describe('all_member_push_loss', () => {
  it('fetches one result per asked task, in the order asked, exactly as the simulator computed it', async () => {
    const sim = await simulator();
    const { tim } = client(sim);
    const asked = [TASKS[2]!, TASKS[0]!];
    const { results, call } = await tim.allMemberPushLoss(yesterday, asked);
    const finished = finishedPart(yesterday, NOW_MS);
    expect(results).toEqual(asked.map((taskId) => ({ taskId, entries: allMemberLossData(APP, [taskId], finished) })));
    expect(results[0]!.entries.length).toBeGreaterThan(0);
    // Vendor channels are offline pushes (1), PushPlatform 0's online pushes are 2, the overall arrays carry none.
    const entries = results.flatMap((r) => r.entries);
    expect(new Set(entries.map((e) => e.eventType))).toEqual(new Set([null, 1, 2]));
    expect(entries.every((e) => (e.platform === null) === (e.eventType === null))).toBe(true);
    expect(JSON.parse(sim.calls[0]!.body)).toEqual({
      StartTime: yesterday.start,
      EndTime: yesterday.end,
      TaskID: asked,
    });
    expect(call).toMatchObject({ sdkappid: APP, window: yesterday, taskIds: asked, outcome: 'ok', errorCode: 0 });
  });

  it('fetches the overall numbers for an empty list: the sums over the app, echoed with TaskID ""', async () => {
    const sim = await simulator();
    const { results } = await client(sim).tim.allMemberPushLoss(yesterday, []);
    const finished = finishedPart(yesterday, NOW_MS);
    expect(results).toEqual([{ taskId: null, entries: allMemberLossData(APP, TASKS, finished) }]);
    const overall = (taskIds: string[]) =>
      allMemberLossData(APP, taskIds, finished)
        .filter((e) => e.platform === null)
        .reduce((n, e) => n + e.errCount, 0);
    expect(overall(TASKS)).toBe(TASKS.reduce((n, id) => n + overall([id]), 0));
    const raw = await post(sim, LOSS_PATH, { ...window(yesterday.start, yesterday.end), TaskID: [] });
    expect(raw.Results).toHaveLength(1);
    expect(raw.Results![0]!.TaskID).toBe('');
  });

  it('answers an app without task pushes, and a window of unfinished hours, with empty results', async () => {
    const sim = await simulator();
    expect((await client(sim, QUIET_APP).tim.allMemberPushLoss(yesterday, [])).results).toEqual([
      { taskId: null, entries: [] },
    ]);
    const thisHour = { start: NOW, end: NOW + 60 }; // NOW is on the hour: this hour has not finished
    expect((await client(sim).tim.allMemberPushLoss(thisHour, [TASKS[0]!])).results).toEqual([
      { taskId: TASKS[0], entries: [] },
    ]);
  });

  it('refuses a TaskID list it cannot send with a TypeError naming the limit, before any call', async () => {
    const sim = await simulator();
    const { tim } = client(sim);
    await expect(tim.allMemberPushLoss(yesterday, ['1', '2', '3', '4', '5', '6'])).rejects.toThrow(
      new TypeError('all_member_push_loss: at most 5 task IDs per call, got 6'),
    );
    await expect(tim.allMemberPushStatistics(yesterday, ['a', 'a'])).rejects.toThrow(TypeError);
    await expect(tim.allMemberPushLoss(yesterday, [''])).rejects.toThrow(/non-empty string/);
    expect(sim.calls).toHaveLength(0);
  });

  it('refuses a window beyond its 7 days without calling', async () => {
    const sim = await simulator();
    const old = { start: NOW - 8 * DAY, end: NOW - 7 * DAY };
    const error = await client(sim)
      .tim.allMemberPushLoss(old, [])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimApiError);
    expect(error).toMatchObject({ failure: 'window_rejected', advice: expect.stringMatching(/7 days/) });
    expect(sim.calls).toHaveLength(0);
  });
});

describe('all_member_push_statistics', () => {
  it('fetches counts per task and per (channel, EventType), exactly as the simulator computed them', async () => {
    const sim = await simulator();
    const { results, call } = await client(sim).tim.allMemberPushStatistics(yesterday, TASKS);
    const finished = finishedPart(yesterday, NOW_MS);
    expect(results).toEqual(TASKS.map((taskId) => ({ taskId, ...allMemberStatsData(APP, [taskId], finished) })));
    const online = results[0]!.platforms.find((line) => line.eventType === 2);
    expect(online).toMatchObject({ platform: 0 });
    expect(call.taskIds).toEqual(TASKS);
    // Consistent with the loss answer: per channel, TotalCount - SentCount is the ready-to-send loss.
    const loss = allMemberLossData(APP, [TASKS[0]!], finished);
    for (const line of results[0]!.platforms) {
      const ready = loss
        .filter((e) => e.stage === 'ready_to_send' && e.platform === line.platform && e.eventType === line.eventType)
        .reduce((n, e) => n + e.errCount, 0);
      expect(line.total! - line.sent!).toBe(ready);
    }
  });

  it('answers windows of up to 30 days, 30 days back, and the overall numbers', async () => {
    const sim = await simulator();
    const month = { start: NOW - 29 * DAY, end: NOW - DAY };
    const { results } = await client(sim).tim.allMemberPushStatistics(month, []);
    expect(results).toEqual([{ taskId: null, ...allMemberStatsData(APP, TASKS, month) }]);
    expect(results[0]!.overall.total).toBeGreaterThan(0);
    expect((await post(sim, STATS_PATH, { ...window(NOW - 31 * DAY, NOW - 30 * DAY), TaskID: [] })).ErrorCode).toBe(
      90100,
    );
  });
});

describe('the simulator checks a task-push request as documented', () => {
  it.each([
    ['more than 5 TaskIDs', { TaskID: ['1', '2', '3', '4', '5', '6'] }, /more than 5/],
    ['no TaskID', {}, /must be an array/],
    ['a TaskID that is not a string', { TaskID: [5] }, /non-empty strings/],
    ['a TaskID listed twice', { TaskID: ['a', 'a'] }, /twice/],
  ])('answers 90100 to %s', async (_, extra, info) => {
    const sim = await simulator();
    for (const path of [LOSS_PATH, STATS_PATH]) {
      const answer = await post(sim, path, { ...window(yesterday.start, yesterday.end), ...extra });
      expect(answer).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 90100 });
      expect(answer.ErrorInfo).toMatch(info);
    }
  });

  it('holds all_member_push_loss to 7 days back and all_member_push_statistics to 30', async () => {
    const sim = await simulator();
    const eightDaysAgo = { ...window(NOW - 8 * DAY, NOW - 7 * DAY), TaskID: [] };
    expect((await post(sim, LOSS_PATH, eightDaysAgo)).ErrorCode).toBe(90100);
    expect((await post(sim, STATS_PATH, eightDaysAgo)).ErrorCode).toBe(0);
  });

  it('checks the UserSig on the new resources too', async () => {
    const sim = await simulator();
    const other = createTimClient(loopbackApp(APP, 'not-the-secret', [sim.url]), {
      api,
      logger: capturedLogger().logger,
      clock: manualClock(NOW_MS),
    });
    await expect(other.allMemberPushStatistics(yesterday, [])).rejects.toMatchObject({ tencentCode: 70009 });
  });
});

describe('unknown TaskIDs', () => {
  it('answer an empty result by default, in place', async () => {
    const sim = await simulator();
    const { results } = await client(sim).tim.allMemberPushLoss(yesterday, ['no-such-task', TASKS[0]!]);
    expect(results[0]).toEqual({ taskId: 'no-such-task', entries: [] });
    expect(results[1]!.entries.length).toBeGreaterThan(0);
    const raw = await post(sim, STATS_PATH, { ...window(yesterday.start, yesterday.end), TaskID: ['no-such-task'] });
    expect(raw.Results).toEqual([
      { TaskID: 'no-such-task', TotalCount: 0, SentCount: 0, DeliveredCount: 0, ClickCount: 0, PlatformStatistics: [] },
    ]);
  });

  it('are left out of Results with `omit`, which the client reads as no data', async () => {
    const sim = await simulator({ unknownTaskIds: 'omit' });
    const raw = await post(sim, LOSS_PATH, { ...window(yesterday.start, yesterday.end), TaskID: ['x', TASKS[1]] });
    expect(raw.Results!.map((r) => r.TaskID)).toEqual([TASKS[1]]);
    const { results } = await client(sim).tim.allMemberPushStatistics(yesterday, ['x']);
    expect(results).toEqual([
      { taskId: 'x', overall: { total: null, sent: null, delivered: null, click: null }, platforms: [] },
    ]);
  });

  it('answer the whole call with an error code when configured so', async () => {
    const sim = await simulator({ unknownTaskIds: { code: 90100, info: 'TaskID invalid' } });
    const error = await client(sim)
      .tim.allMemberPushLoss(yesterday, [TASKS[0]!, 'x'])
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'TimApiError', code: 'TIM_90100', failure: 'fatal' });
    // Known tasks alone are answered.
    expect((await client(sim).tim.allMemberPushLoss(yesterday, [TASKS[0]!])).results).toHaveLength(1);
  });
});

describe('failures and the rate rule across the four APIs', () => {
  it('injects 90045 into the task-push APIs only, for every call, for an app that never sent one', async () => {
    const sim = await simulator();
    sim.fail(
      { kind: 'error', code: 90045, info: 'push service not enabled' },
      { sdkappid: APP, api: ['all_member_loss', 'all_member_statistics'], times: Infinity },
    );
    const { tim, failed } = client(sim);
    for (let i = 0; i < 2; i++) {
      await expect(tim.allMemberPushLoss(yesterday, [])).rejects.toMatchObject({
        code: 'TIM_90045',
        fatalForApp: true,
      });
    }
    await expect(tim.allMemberPushStatistics(yesterday, [TASKS[0]!])).rejects.toMatchObject({ tencentCode: 90045 });
    expect((await tim.normalPushLoss(yesterday)).entries.length).toBeGreaterThan(0);
    expect((await tim.normalPushStatistics(yesterday)).stats.platforms.length).toBeGreaterThan(0);
    expect(failed.map((f) => [f.api, f.call.taskIds])).toEqual([
      ['all-member-loss', []],
      ['all-member-loss', []],
      ['all-member-statistics', [TASKS[0]]],
    ]);
    sim.reset();
    expect((await tim.allMemberPushLoss(yesterday, [])).results).toHaveLength(1);
  });

  it('injects 90009 into one API, and the client retries gateway failures with the same TaskIDs', async () => {
    const sim = await simulator();
    sim.fail({ kind: 'error', code: 90009 }, { api: 'all_member_statistics' });
    sim.fail({ kind: 'http', status: 502 }, { api: 'all_member_loss' });
    const { tim, failed } = client(sim, APP, { clock: manualClock(NOW_MS) });
    await expect(tim.allMemberPushStatistics(yesterday, [])).rejects.toMatchObject({ tencentCode: 90009 });
    const { results, call } = await tim.allMemberPushLoss(yesterday, [TASKS[1]!]);
    expect(results[0]!.taskId).toBe(TASKS[1]);
    expect(call.attempt).toBe(2);
    expect(failed[1]).toMatchObject({ api: 'all-member-loss', call: { httpStatus: 502, taskIds: [TASKS[1]] } });
    expect(sim.calls.slice(1).map((c) => JSON.parse(c.body) as unknown)).toEqual([
      { StartTime: yesterday.start, EndTime: yesterday.end, TaskID: [TASKS[1]] },
      { StartTime: yesterday.start, EndTime: yesterday.end, TaskID: [TASKS[1]] },
    ]);
  });

  it('counts all four APIs of an app in one rate slot by default, each on its own with ratePerApi', async () => {
    const body = { ...window(yesterday.start, yesterday.end), TaskID: [] };
    const shared = await simulator({ minIntervalMs: 60_000 });
    expect((await post(shared, '/v4/timpush/normal_push_loss', body)).ErrorCode).toBe(0);
    expect((await post(shared, LOSS_PATH, body)).ErrorCode).toBe(60011);
    expect((await post(shared, STATS_PATH, body)).ErrorCode).toBe(60011);
    expect((await post(shared, STATS_PATH, body, QUIET_APP)).ErrorCode).toBe(0);

    const perApi = await simulator({ minIntervalMs: 60_000, ratePerApi: true });
    expect((await post(perApi, '/v4/timpush/normal_push_loss', body)).ErrorCode).toBe(0);
    expect((await post(perApi, LOSS_PATH, body)).ErrorCode).toBe(0);
    expect((await post(perApi, STATS_PATH, body)).ErrorCode).toBe(0);
    expect((await post(perApi, '/v4/timpush/normal_push_statistics', body)).ErrorCode).toBe(0);
    expect((await post(perApi, STATS_PATH, body)).ErrorCode).toBe(60011);
  });

  it('waits for each API at the gate it is given', async () => {
    const sim = await simulator();
    const waited: FeedName[] = [];
    const gateFor = (name: FeedName) => ({ wait: async () => void waited.push(name) });
    const { tim } = client(sim, APP, {
      gates: { 'all-member-loss': gateFor('all-member-loss'), statistics: gateFor('statistics') },
    });
    await tim.allMemberPushLoss(yesterday, []);
    await tim.normalPushStatistics(yesterday);
    expect(waited).toEqual(['all-member-loss', 'statistics']);
  });
});
