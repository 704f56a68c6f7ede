import { describe, expect, it } from 'vitest';
import { documentedLimits } from '../../src/tencent/client.ts';
import { backoffMs, classifyHttpStatus, classifyTencentCode } from '../../src/tencent/errors.ts';

const LOSS_LIMITS = { horizonSeconds: 7 * 86_400, maxSpanSeconds: 7 * 86_400 };

describe('failure classification', () => {
  it.each([
    [[60008, 60013, 60014, 90102, 91000], 'retryable'],
    [[60007, 60011, 60018, 60019, 70050], 'rate_limited'],
    [[70001], 'renew_signature'],
    [
      [90009, 90045, 90100, 90103, 60002, 60006, 60010, 60020, 70003, 70009, 70013, 70014, 70016, 70020, 12345],
      'fatal',
    ],
  ])('%j are %s', (codes, failure) => {
    for (const code of codes) expect(classifyTencentCode(code, LOSS_LIMITS).failure, String(code)).toBe(failure);
  });

  it('tells the operator what to do', () => {
    expect(classifyTencentCode(90045, LOSS_LIMITS).advice).toMatch(/enable Push/);
    expect(classifyTencentCode(99999, LOSS_LIMITS).advice).toMatch(/unknown error code 99999/);
  });

  it("names the called API's own window limits when a window is refused (90100)", () => {
    expect(classifyTencentCode(90100, LOSS_LIMITS).advice).toBe(
      'invalid request parameters: check the window (at most 7 days per call, within the last 7 days)',
    );
    expect(classifyTencentCode(90100, documentedLimits('statistics')).advice).toBe(
      'invalid request parameters: check the window (at most 30 days per call, within the last 30 days)',
    );
  });

  it('treats gateway failures as transient and other HTTP statuses as fatal', () => {
    expect(classifyHttpStatus(502).failure).toBe('retryable');
    expect(classifyHttpStatus(504).failure).toBe('retryable');
    expect(classifyHttpStatus(404).failure).toBe('fatal');
  });

  it('backs off exponentially with jitter, longer when rate-limited, a minute for 70050', () => {
    const low = () => 0;
    const high = () => 1;
    expect([1, 2, 3].map((n) => backoffMs('retryable', null, n, high))).toEqual([1000, 2000, 4000]);
    expect(backoffMs('retryable', null, 3, low)).toBe(2000);
    expect(backoffMs('rate_limited', 60011, 1, high)).toBe(5000);
    // At least the minute the lock lasts, never 30 s.
    expect(backoffMs('rate_limited', 70050, 1, low)).toBe(60_000);
    expect(backoffMs('rate_limited', 70050, 3, high)).toBe(90_000);
    expect(backoffMs('retryable', null, 30, high)).toBe(60_000);
  });
});
