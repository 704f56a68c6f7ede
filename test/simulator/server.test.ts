import { createHmac } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../helpers/clock.ts';
import type { LossEntry } from '../../src/tencent/loss.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.ts';
import { defaultLossData, toResponseBody } from '../helpers/simulator.ts';

const APP = { sdkappid: 1400000001, secretKey: 'simulator-test-secret-0123456789abcdef' };
const OTHER_APP = { sdkappid: 1400000002, secretKey: 'another-secret', identifier: 'admin' };
/** 2025-03-13 12:30 UTC: the documentation's sample day (2025-03-12 Beijing) is "yesterday". */
const NOW_MS = Date.UTC(2025, 2, 13, 12, 30);
const NOW = NOW_MS / 1000;
/** The documented path, written here independently of the simulator's own constant. */
const API_PATH = '/v4/timpush/normal_push_loss';
const SAMPLE_DAY = { StartTime: 1741708800, EndTime: 1741795200 };

/**
 * A UserSig built by hand from the documented algorithm, independently of the code under test.
 */
function userSig(
  opts: { sdkappid?: number; identifier?: string; key?: string; time?: number; expire?: number; ver?: string } = {},
): string {
  const sdkappid = opts.sdkappid ?? APP.sdkappid;
  const identifier = opts.identifier ?? 'administrator';
  const time = opts.time ?? NOW - 60;
  const expire = opts.expire ?? 86400;
  const content = `TLS.identifier:${identifier}\nTLS.sdkappid:${sdkappid}\nTLS.time:${time}\nTLS.expire:${expire}\n`;
  const sig = createHmac('sha256', opts.key ?? APP.secretKey)
    .update(content)
    .digest('base64');
  const doc = {
    'TLS.ver': opts.ver ?? '2.0',
    'TLS.identifier': identifier,
    'TLS.sdkappid': sdkappid,
    'TLS.time': time,
    'TLS.expire': expire,
    'TLS.sig': sig,
  };
  return deflateSync(Buffer.from(JSON.stringify(doc)))
    .toString('base64')
    .replace(/\+/g, '*')
    .replace(/\//g, '-')
    .replace(/=/g, '_');
}

interface CallOptions {
  method?: string;
  path?: string;
  query?: Record<string, string | undefined>;
  body?: string;
  signal?: AbortSignal;
}

async function call(sim: Simulator, opts: CallOptions = {}) {
  const query: Record<string, string | undefined> = {
    sdkappid: String(APP.sdkappid),
    identifier: 'administrator',
    usersig: userSig(),
    random: '99999999',
    contenttype: 'json',
    ...opts.query,
  };
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.append(k, v);
  const method = opts.method ?? 'POST';
  const res = await fetch(`${sim.url}${opts.path ?? API_PATH}?${params}`, {
    method,
    body: method === 'GET' ? undefined : (opts.body ?? JSON.stringify(SAMPLE_DAY)),
    signal: opts.signal,
  });
  const text = await res.text();
  let json: Record<string, unknown> | null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: res.status, text, json };
}

const open: Simulator[] = [];
async function simulator(extra: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const sim = await startSimulator({
    apps: [APP, OTHER_APP],
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

type Row = { ErrCode: string; ErrCount: number; ErrInfo: string; PushPlatform?: number };
const total = (rows: Row[]) => rows.reduce((n, r) => n + r.ErrCount, 0);

describe('a valid call', () => {
  it('answers OK with the four flat arrays of the deterministic data', async () => {
    const sim = await simulator();
    const { status, json, text } = await call(sim);
    expect(status).toBe(200);
    expect(json).toMatchObject({ ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' });
    const body = json as Record<string, Row[]>;
    for (const field of [
      'ReadyToSendLoss',
      'PostSendDeliveredLoss',
      'PlatformReadyToSendLoss',
      'PlatformPostSendDeliveredLoss',
    ]) {
      expect(Array.isArray(body[field])).toBe(true);
      expect(body[field]!.length).toBeGreaterThan(0);
      for (const row of body[field]!) {
        expect(typeof row.ErrCode).toBe('string');
        expect(Number.isInteger(row.ErrCount)).toBe(true);
        expect(typeof row.ErrInfo).toBe('string');
        expect('PushPlatform' in row).toBe(field.startsWith('Platform'));
      }
    }
    // Per-platform arrays add up, per stage and per code, to the overall arrays.
    for (const [overall, perPlatform] of [
      ['ReadyToSendLoss', 'PlatformReadyToSendLoss'],
      ['PostSendDeliveredLoss', 'PlatformPostSendDeliveredLoss'],
    ] as const) {
      const byCode = new Map<string, number>();
      for (const r of body[perPlatform]!) byCode.set(r.ErrCode, (byCode.get(r.ErrCode) ?? 0) + r.ErrCount);
      expect(new Map(body[overall]!.map((r) => [r.ErrCode, r.ErrCount]))).toEqual(byCode);
    }
    const window = { start: SAMPLE_DAY.StartTime, end: SAMPLE_DAY.EndTime };
    expect(text).toBe(toResponseBody(defaultLossData(APP.sdkappid, window)));
  });

  it('gives a day the sum of its 24 hours', async () => {
    const sim = await simulator();
    const day = (await call(sim)).json as Record<string, Row[]>;
    const hours: Array<Record<string, Row[]>> = [];
    for (let h = SAMPLE_DAY.StartTime; h < SAMPLE_DAY.EndTime; h += 3600) {
      hours.push(
        (await call(sim, { body: JSON.stringify({ StartTime: h, EndTime: h + 3600 }) })).json as Record<string, Row[]>,
      );
    }
    for (const field of [
      'ReadyToSendLoss',
      'PostSendDeliveredLoss',
      'PlatformReadyToSendLoss',
      'PlatformPostSendDeliveredLoss',
    ]) {
      expect(hours.reduce((n, h) => n + total(h[field]!), 0)).toBe(total(day[field]!));
    }
  });

  it('differs between apps and is the same on every call', async () => {
    const sim = await simulator();
    const a1 = await call(sim);
    const a2 = await call(sim);
    expect(a2.text).toBe(a1.text);
    const other = await call(sim, {
      query: {
        sdkappid: String(OTHER_APP.sdkappid),
        identifier: 'admin',
        usersig: userSig({ sdkappid: OTHER_APP.sdkappid, identifier: 'admin', key: OTHER_APP.secretKey }),
      },
    });
    expect(other.json).toMatchObject({ ErrorCode: 0 });
    expect(other.text).not.toBe(a1.text);
  });

  it('has no data yet for hours that have not finished', async () => {
    const sim = await simulator();
    const start = NOW - 3 * 3600 - 1800; // 09:00 UTC; now is 12:30
    const { json } = await call(sim, { body: JSON.stringify({ StartTime: start, EndTime: start + 6 * 3600 }) });
    const expected = defaultLossData(APP.sdkappid, { start, end: NOW - 1800 });
    expect(total((json as Record<string, Row[]>).ReadyToSendLoss!)).toBe(
      expected.filter((e) => e.platform === null && e.stage === 'ready_to_send').reduce((n, e) => n + e.errCount, 0),
    );
  });

  it('puts the arrays under "Data" in the nested shape', async () => {
    const sim = await simulator({ shape: 'nested' });
    const { json } = await call(sim);
    expect(json).toMatchObject({ ActionStatus: 'OK', ErrorCode: 0 });
    expect(json).not.toHaveProperty('ReadyToSendLoss');
    expect(Object.keys((json as { Data: object }).Data)).toEqual([
      'ReadyToSendLoss',
      'PostSendDeliveredLoss',
      'PlatformReadyToSendLoss',
      'PlatformPostSendDeliveredLoss',
    ]);
  });

  it('answers with replaced loss data, and 90102 when it throws', async () => {
    const sim = await simulator();
    const fixed: LossEntry[] = [
      { stage: 'ready_to_send', platform: null, errCode: '-1', errInfo: 'certificate id not set', errCount: 167 },
      { stage: 'ready_to_send', platform: 9, errCode: '-1', errInfo: 'certificate id not set', errCount: 167 },
    ];
    sim.setLossData(() => fixed);
    expect((await call(sim)).json).toEqual({
      ActionStatus: 'OK',
      ErrorCode: 0,
      ErrorInfo: '',
      ReadyToSendLoss: [{ ErrCode: '-1', ErrCount: 167, ErrInfo: 'certificate id not set' }],
      PostSendDeliveredLoss: [],
      PlatformReadyToSendLoss: [{ PushPlatform: 9, ErrCode: '-1', ErrCount: 167, ErrInfo: 'certificate id not set' }],
      PlatformPostSendDeliveredLoss: [],
    });
    sim.setLossData(() => {
      throw new Error('boom');
    });
    expect((await call(sim)).json).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 90102 });
  });
});

describe('refused calls', () => {
  const day = 86400;
  const cases: Array<[string, CallOptions, number]> = [
    ['wrong path', { path: '/v4/timpush/normal_push_trace' }, 60009],
    ['GET', { method: 'GET' }, 60009],
    ['sdkappid missing', { query: { sdkappid: undefined } }, 60012],
    ['usersig missing', { query: { usersig: undefined } }, 60002],
    ['contenttype not json', { query: { contenttype: 'JSON' } }, 60002],
    ['random not a number', { query: { random: 'abc' } }, 60002],
    ['random over uint32', { query: { random: '4294967296' } }, 60002],
    ['random negative', { query: { random: '-1' } }, 60002],
    ['sdkappid not a number', { query: { sdkappid: 'abc' } }, 60006],
    ['unknown sdkappid', { query: { sdkappid: '1400999999', usersig: userSig({ sdkappid: 1400999999 }) } }, 70020],
    ['usersig garbage', { query: { usersig: 'not!a!sig' } }, 70003],
    ['usersig version 1', { query: { usersig: userSig({ ver: '1.0' }) } }, 70003],
    [
      'usersig of another app',
      { query: { usersig: userSig({ sdkappid: OTHER_APP.sdkappid, key: OTHER_APP.secretKey }) } },
      70013,
    ],
    ['usersig of another identifier', { query: { usersig: userSig({ identifier: 'admin' }) } }, 70013],
    ['bad HMAC (wrong key)', { query: { usersig: userSig({ key: 'wrong-secret' }) } }, 70009],
    ['expired usersig', { query: { usersig: userSig({ time: NOW - 200, expire: 100 }) } }, 70001],
    [
      'identifier not the administrator',
      { query: { identifier: 'bob', usersig: userSig({ identifier: 'bob' }) } },
      60010,
    ],
    ['body not JSON', { body: 'StartTime=1' }, 60003],
    ['empty body', { body: '' }, 60003],
    ['body an array', { body: '[]' }, 90100],
    ['StartTime a string', { body: JSON.stringify({ StartTime: '1741708800', EndTime: 1741795200 }) }, 90100],
    ['EndTime missing', { body: JSON.stringify({ StartTime: 1741708800 }) }, 90100],
    ['EndTime before StartTime', { body: JSON.stringify({ StartTime: 1741795200, EndTime: 1741708800 }) }, 90100],
    [
      'window over 7 days',
      { body: JSON.stringify({ StartTime: NOW - 7 * day, EndTime: NOW - 7 * day + 7 * day + 1 }) },
      90100,
    ],
    [
      'window before the horizon',
      { body: JSON.stringify({ StartTime: NOW - 8 * day, EndTime: NOW - 7 * day }) },
      90100,
    ],
  ];
  it.each(cases)('%s → %i', async (_name, opts, code) => {
    const sim = await simulator();
    const { status, json } = await call(sim, opts);
    expect(status).toBe(200);
    expect(json).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: code });
    expect(typeof json?.ErrorInfo).toBe('string');
    expect(sim.calls[0]).toMatchObject({ httpStatus: 200, errorCode: code });
  });

  it('says why a window is refused: too old, or too long', async () => {
    const sim = await simulator();
    const old = await call(sim, { body: JSON.stringify({ StartTime: NOW - 8 * day, EndTime: NOW - 7 * day }) });
    expect(old.json?.ErrorInfo).toMatch(/7-day query horizon/);
    const long = await call(sim, { body: JSON.stringify({ StartTime: NOW - 7 * day, EndTime: NOW + 1 }) });
    expect(long.json?.ErrorInfo).toMatch(/exceeds 604800 seconds/);
  });

  it('accepts a UserSig until the very second it expires', async () => {
    const sim = await simulator();
    expect((await call(sim, { query: { usersig: userSig({ time: NOW - 100, expire: 100 }) } })).json).toMatchObject({
      ErrorCode: 0,
    });
  });

  it('accepts the oldest StartTime the horizon allows and a full 7-day window', async () => {
    const sim = await simulator();
    const body = JSON.stringify({ StartTime: NOW - 7 * day, EndTime: NOW });
    expect((await call(sim, { body })).json).toMatchObject({ ErrorCode: 0 });
  });
});

describe('the rate rule', () => {
  it('refuses a second call arriving less than minIntervalMs after the first, and records both', async () => {
    const sim = await simulator({ minIntervalMs: 10_000 });
    expect((await call(sim)).json).toMatchObject({ ErrorCode: 0 });
    expect((await call(sim)).json).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 60011 });
    expect(sim.calls.map((c) => c.errorCode)).toEqual([0, 60011]);
    expect(sim.calls[1]!.receivedAtMono).toBeGreaterThan(sim.calls[0]!.receivedAtMono);
  });

  it('counts refused calls too, and each app separately', async () => {
    const sim = await simulator({ minIntervalMs: 10_000 });
    expect((await call(sim, { query: { usersig: userSig({ key: 'wrong' }) } })).json).toMatchObject({
      ErrorCode: 70009,
    });
    expect((await call(sim)).json).toMatchObject({ ErrorCode: 60011 });
    const other = await call(sim, {
      query: {
        sdkappid: String(OTHER_APP.sdkappid),
        identifier: 'admin',
        usersig: userSig({ sdkappid: OTHER_APP.sdkappid, identifier: 'admin', key: OTHER_APP.secretKey }),
      },
    });
    expect(other.json).toMatchObject({ ErrorCode: 0 });
  });

  it('lets calls through once they are spaced, and forgets arrivals on reset', async () => {
    const sim = await simulator({ minIntervalMs: 50 });
    expect((await call(sim)).json).toMatchObject({ ErrorCode: 0 });
    sim.reset();
    expect(sim.calls).toHaveLength(0);
    expect((await call(sim)).json).toMatchObject({ ErrorCode: 0 });
  });
});

describe('the call log', () => {
  it('records the call but never the usersig', async () => {
    const sim = await simulator();
    const usersig = userSig();
    await call(sim, { query: { usersig, random: '42' } });
    expect(sim.calls).toEqual([
      expect.objectContaining({
        method: 'POST',
        path: API_PATH,
        sdkappid: APP.sdkappid,
        identifier: 'administrator',
        random: '42',
        body: JSON.stringify(SAMPLE_DAY),
        receivedAt: NOW_MS,
        injected: null,
        httpStatus: 200,
        errorCode: 0,
      }),
    ]);
    expect(JSON.stringify(sim.calls)).not.toContain(usersig);
  });
});

describe('failure injection', () => {
  it('answers an HTTP status', async () => {
    const sim = await simulator();
    sim.fail({ kind: 'http', status: 502 });
    const { status, json } = await call(sim);
    expect(status).toBe(502);
    expect(json).toBeNull();
    expect(sim.calls[0]).toMatchObject({ injected: 'http', httpStatus: 502, errorCode: null });
  });

  it('answers non-JSON text with 200', async () => {
    const sim = await simulator();
    sim.fail({ kind: 'malformed' });
    const { status, text, json } = await call(sim);
    expect(status).toBe(200);
    expect(text.length).toBeGreaterThan(0);
    expect(json).toBeNull();
  });

  it('answers a Tencent error code', async () => {
    const sim = await simulator();
    sim.fail({ kind: 'error', code: 90045, info: 'push not enabled' });
    sim.fail({ kind: 'error', code: 91000 });
    expect((await call(sim)).json).toEqual({ ActionStatus: 'FAIL', ErrorCode: 90045, ErrorInfo: 'push not enabled' });
    expect((await call(sim)).json).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 91000 });
    expect((await call(sim)).json).toMatchObject({ ErrorCode: 0 });
    expect(sim.calls.map((c) => c.errorCode)).toEqual([90045, 91000, 0]);
  });

  it('answers an exact body', async () => {
    const sim = await simulator();
    const body = '{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"sucess"}';
    sim.fail({ kind: 'body', body });
    const res = await call(sim);
    expect(res.status).toBe(200);
    expect(res.text).toBe(body);
  });

  it('answers normally but late', async () => {
    const sim = await simulator();
    sim.fail({ kind: 'slow', ms: 150 });
    const started = performance.now();
    const { json } = await call(sim);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(json).toMatchObject({ ErrorCode: 0 });
    expect(sim.calls[0]).toMatchObject({ injected: 'slow', errorCode: 0 });
  });

  it('hangs a call until the client gives up', async () => {
    const sim = await simulator();
    sim.fail({ kind: 'timeout' });
    await expect(call(sim, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
    expect(sim.calls[0]).toMatchObject({ injected: 'timeout', httpStatus: null });
    expect((await call(sim)).json).toMatchObject({ ErrorCode: 0 });
  });

  it('uses rules in order, `times` times, only for their app', async () => {
    const sim = await simulator();
    sim.fail({ kind: 'http', status: 503 }, { times: 2, sdkappid: OTHER_APP.sdkappid });
    sim.fail({ kind: 'http', status: 500 }, { times: 2 });
    const other = {
      query: {
        sdkappid: String(OTHER_APP.sdkappid),
        identifier: 'admin',
        usersig: userSig({ sdkappid: OTHER_APP.sdkappid, identifier: 'admin', key: OTHER_APP.secretKey }),
      },
    };
    expect((await call(sim)).status).toBe(500);
    expect((await call(sim, other)).status).toBe(503);
    expect((await call(sim, other)).status).toBe(503);
    expect((await call(sim, other)).status).toBe(500);
    expect((await call(sim)).status).toBe(200);
    expect((await call(sim, other)).json).toMatchObject({ ErrorCode: 0 });
  });

  it('forgets pending rules on reset', async () => {
    const sim = await simulator();
    sim.fail({ kind: 'http', status: 502 }, { times: 5 });
    sim.reset();
    expect((await call(sim)).json).toMatchObject({ ErrorCode: 0 });
  });

  it('rejects nonsense rules', async () => {
    const sim = await simulator();
    expect(() => sim.fail({ kind: 'http', status: 42 })).toThrow(RangeError);
    expect(() => sim.fail({ kind: 'malformed' }, { times: 0 })).toThrow(RangeError);
  });
});

describe('close()', () => {
  it('returns promptly with a hanging call in flight', async () => {
    const sim = await startSimulator({ apps: [APP], clock: manualClock(NOW_MS) });
    sim.fail({ kind: 'timeout' });
    const pending = call(sim).then(
      () => 'answered',
      () => 'dropped',
    );
    await sim.waitForCalls(1);
    const started = performance.now();
    await sim.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await pending).toBe('dropped');
  });

  it('also drops a slow call and keep-alive connections', async () => {
    const sim = await startSimulator({ apps: [APP], clock: manualClock(NOW_MS), minIntervalMs: 0 });
    await call(sim); // leaves an idle keep-alive connection behind
    sim.fail({ kind: 'slow', ms: 20_000 });
    const pending = call(sim).catch(() => 'dropped');
    await sim.waitForCalls(2);
    const started = performance.now();
    await sim.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await pending).toBe('dropped');
  });
});
