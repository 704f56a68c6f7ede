import { describe, expect, it } from 'vitest';
import type { LossEntry } from '../../../src/tencent/loss.ts';
import { normalizeLoss } from '../../../src/feeds/loss/normalize.ts';

const entry = (overrides: Partial<LossEntry>): LossEntry => ({
  stage: 'ready_to_send',
  platform: null,
  errCode: '-1',
  errInfo: 'certificate id not set',
  errCount: 1,
  ...overrides,
});

describe('normalizeLoss', () => {
  it('maps overall entries to scope overall with platform -1, per-platform entries to scope platform', () => {
    expect(
      normalizeLoss([
        entry({ errCount: 167 }),
        entry({ platform: 2, errCount: 123 }),
        entry({ stage: 'post_send_delivered', platform: 0, errCode: '410', errInfo: 'Unregistered', errCount: 35 }),
      ]),
    ).toEqual([
      {
        scope: 'overall',
        stage: 'ready_to_send',
        platform: -1,
        errCode: '-1',
        errInfo: 'certificate id not set',
        errCount: 167,
      },
      {
        scope: 'platform',
        stage: 'ready_to_send',
        platform: 2,
        errCode: '-1',
        errInfo: 'certificate id not set',
        errCount: 123,
      },
      {
        scope: 'platform',
        stage: 'post_send_delivered',
        platform: 0,
        errCode: '410',
        errInfo: 'Unregistered',
        errCount: 35,
      },
    ]);
  });

  it('sums duplicate keys and keeps the description of the largest count (first on ties)', () => {
    const lines = normalizeLoss([
      entry({ errInfo: 'small', errCount: 2 }),
      entry({ errInfo: 'large', errCount: 10 }),
      entry({ errInfo: 'tie', errCount: 10 }),
      entry({ platform: 1, errInfo: 'other key', errCount: 4 }),
    ]);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ scope: 'overall', errCount: 22, errInfo: 'large' });
    expect(lines[1]).toMatchObject({ scope: 'platform', platform: 1, errCount: 4 });
  });

  it('keeps the same code apart across stages, scopes and platforms (never summed together)', () => {
    const lines = normalizeLoss([
      entry({ errCount: 5 }),
      entry({ stage: 'post_send_delivered', errCount: 6 }),
      entry({ platform: 1, errCount: 7 }),
      entry({ platform: 9, errCount: 8 }),
    ]);
    expect(lines.map((l) => l.errCount)).toEqual([5, 6, 7, 8]);
  });

  it('keeps error codes as text exactly', () => {
    expect(normalizeLoss([entry({ errCode: '007' }), entry({ errCode: '7' })]).map((l) => l.errCode)).toEqual([
      '007',
      '7',
    ]);
  });

  it('refuses entries that cannot be stored exactly', () => {
    expect(() => normalizeLoss([entry({ errCount: -1 })])).toThrow(/non-negative/);
    expect(() => normalizeLoss([entry({ errCount: 1.5 })])).toThrow(/non-negative/);
    expect(() => normalizeLoss([entry({ platform: 40_000 })])).toThrow(/platform 40000/);
    expect(() => normalizeLoss([entry({ stage: 'sent' as never })])).toThrow(/unknown stage/);
    expect(() => normalizeLoss([entry({ errCount: Number.MAX_SAFE_INTEGER }), entry({ errCount: 1 })])).toThrow(
      /exceeds/,
    );
  });

  it('returns nothing for an answer without losses', () => {
    expect(normalizeLoss([])).toEqual([]);
  });
});
