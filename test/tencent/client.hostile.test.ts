/**
 * Broken and hostile upstreams, met by the real client over real HTTP on 127.0.0.1: each answer
 * is refused with a clear reason, what arrived is archived (cut and marked when too big), reading
 * stops at the limit (so memory stays bounded; `npm run bench -- hostile` measures the peak RSS),
 * and no echoed secret survives into a log line, an error or an archived field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopbackApp, type Config } from '../../src/config/config.ts';
import { startHostileUpstream, type HostileAnswer, type HostileUpstream } from '../helpers/hostileUpstream.ts';
import { createTimClient } from '../../src/tencent/client.ts';
import { TimApiError } from '../../src/tencent/errors.ts';
import { ANSWER_LIMITS } from '../../src/tencent/limits.ts';
import type { CallRecord } from '../../src/tencent/loss.ts';
import { manualClock } from '../helpers/clock.ts';
import { capturedLogger } from '../helpers/logs.ts';

const SECRET = 'hostile-secret-key-0123456789abcdef';
const APP = 1400000901;
const NOW_MS = Date.UTC(2026, 10, 26, 4, 0, 0);
const yesterday = { start: Date.UTC(2026, 10, 24, 16) / 1000, end: Date.UTC(2026, 10, 25, 16) / 1000 };
const api: Config['api'] = {
  minIntervalMs: 10,
  timeoutMs: 1_500,
  maxAttempts: 2,
};

let upstream: HostileUpstream;
beforeAll(async () => {
  upstream = await startHostileUpstream({ kind: 'raw', body: '{}' });
});
afterAll(() => upstream.close());

/** One fetch against the upstream answering `answer`; the error, the archived calls and the log. */
async function fetchFrom(answer: HostileAnswer, overrides: Partial<Config['api']> = {}) {
  upstream.answer(answer);
  const log = capturedLogger();
  const failed: CallRecord[] = [];
  const clock = manualClock(NOW_MS);
  const tim = createTimClient(loopbackApp(APP, SECRET, [upstream.url]), {
    api: { ...api, ...overrides },
    logger: log.logger,
    clock,
    onFailedCall: (call) => void failed.push(call),
  });
  const error = await tim.normalPushLoss(yesterday).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error: error as TimApiError | undefined, failed, log: log.text() };
}

/** The archive's copy of a refused answer is its beginning only, and says so. */
function expectTruncated(call: CallRecord) {
  expect(call.bodyTruncated).toBe(true);
  expect(Buffer.byteLength(call.body ?? '', 'utf8')).toBeLessThanOrEqual(ANSWER_LIMITS.keptBodyBytes);
  // Reading stopped at the limit: no more than one chunk past it was ever taken in.
  expect(call.bodyBytes).toBeGreaterThan(0);
  expect(call.bodyBytes!).toBeLessThanOrEqual(ANSWER_LIMITS.maxBodyBytes + 1024 * 1024);
}

describe('an upstream that sends too much', () => {
  it('a 200 MB body is refused at the size limit, its first 64 KiB archived and marked', async () => {
    const { error, failed } = await fetchFrom({ kind: 'huge', bytes: 200 * 1024 * 1024 });
    expect(error).toBeInstanceOf(TimApiError);
    expect(error!.failure).toBe('invalid_response');
    expect(error!.message).toMatch(/answer larger than 4194304 bytes \(HTTP 200\), refused/);
    expect(failed).toHaveLength(1); // refused, not retried: the next pass will try again
    expect(failed[0]!.outcome).toBe('invalid_response');
    expect(failed[0]!.body!.startsWith('{"ActionStatus":"OK"')).toBe(true);
    expectTruncated(failed[0]!);
  });

  it('a gzip bomb is inflated no further than the size limit', async () => {
    const { error, failed } = await fetchFrom({ kind: 'gzip_bomb', inflatedBytes: 1024 ** 3 });
    expect(error!.message).toMatch(/answer larger than 4194304 bytes/);
    expectTruncated(failed[0]!);
  });

  it('a body that never ends is cut off at the request deadline and retried', async () => {
    const { error, failed } = await fetchFrom({ kind: 'drip', everyMs: 50 }, { timeoutMs: 400 });
    expect(error!.failure).toBe('retryable');
    expect(error!.message).toMatch(/no complete answer within REQUEST_TIMEOUT after \d+ bytes of the answer/);
    expect(failed.map((call) => call.outcome)).toEqual(['retryable', 'retryable']);
    expect(failed[0]!.body!.startsWith('{"ActionStatus":"OK"')).toBe(true);
    expect(failed[0]!.bodyTruncated).toBe(true);
  });

  it('a million entries are refused by the size limit, tens of thousands by the entry limit', async () => {
    const million = await fetchFrom({ kind: 'entries', count: 1_000_000 });
    expect(million.error!.message).toMatch(/answer larger than 4194304 bytes/);
    const many = await fetchFrom({ kind: 'entries', count: 30_000 });
    expect(many.error!.message).toMatch(
      /unreadable answer: the answer lists 30000 entries, more than the 20000 pushloss accepts/,
    );
    // Within the size limit, the whole answer is archived exactly.
    expect(many.failed[0]!.bodyTruncated).toBe(false);
    expect((JSON.parse(many.failed[0]!.body!) as { ReadyToSendLoss: unknown[] }).ReadyToSendLoss).toHaveLength(30_000);
  });

  it('JSON nested a million deep is refused before it is parsed', async () => {
    const { error, failed } = await fetchFrom({ kind: 'deep', depth: 1_000_000 });
    expect(error!.message).toMatch(/unreadable answer: JSON nested deeper than 32 levels/);
    expect(failed[0]!.body).toHaveLength(2_000_000);
  });

  it.each([[1e30], [-5], ['12'], [null], [1.5]])(
    'a count of %j is refused, never rounded or guessed',
    async (value) => {
      const { error, failed } = await fetchFrom({ kind: 'count', value });
      expect(error!.message).toMatch(/unreadable answer: ReadyToSendLoss\[0\]: ErrCount is not a non-negative integer/);
      expect(failed[0]!.outcome).toBe('invalid_response');
    },
  );
});

describe('an answer that is not clean UTF-8 text', () => {
  it('is archived byte for byte in bodyRaw, with a readable copy in body', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"ActionStatus":"FAIL","ErrorCode":90045,"ErrorInfo":"caf'),
      Buffer.from([0xc3, 0x28, 0x00]),
      Buffer.from('"}'),
    ]);
    const { error, failed } = await fetchFrom({ kind: 'raw', body: bytes });
    // A raw control character is not JSON: unreadable, but kept exactly.
    expect(error!.message).toMatch(/unreadable answer: body is not JSON/);
    expect(Buffer.from(failed[0]!.bodyRaw!).equals(bytes)).toBe(true);
    expect(failed[0]!.body).toBe('{"ActionStatus":"FAIL","ErrorCode":90045,"ErrorInfo":"caf\uFFFD(\uFFFD"}');
  });
});

describe('an upstream that echoes the request', () => {
  it('never lets the UserSig or the secret key into the error, the log or the archive', async () => {
    for (const answer of [
      { kind: 'echo_error', code: 70003 },
      { kind: 'echo_page', status: 502 },
      { kind: 'raw', body: JSON.stringify({ ActionStatus: 'FAIL', ErrorCode: 70009, ErrorInfo: `key ${SECRET}` }) },
    ] as HostileAnswer[]) {
      const { error, failed, log } = await fetchFrom(answer);
      const sig = new URL(upstream.requests.at(-1)!, upstream.url).searchParams.get('usersig')!;
      expect(sig.length).toBeGreaterThan(100);
      const texts = [error!.message, log, ...failed.flatMap((call) => [call.body, call.errorInfo])].join('\n');
      expect(texts).toContain('[redacted]');
      expect(texts).not.toContain(sig);
      expect(texts).not.toContain(sig.slice(0, 40));
      expect(texts).not.toContain(SECRET);
    }
  });
});
