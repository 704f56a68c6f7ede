import { describe, expect, it } from 'vitest';
import { parseStatisticsBody, parseStatisticsJson } from '../../src/tencent/statistics.ts';

const ok = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: 'sucess' };
const sample = {
  TotalCount: 1000,
  SentCount: 900,
  DeliveredCount: 800,
  ClickCount: 70,
  PlatformStatistics: [
    { PushPlatform: 1, TotalCount: 600, SentCount: 550, DeliveredCount: 500, ClickCount: 50 },
    { PushPlatform: 4, TotalCount: 300, SentCount: 290, DeliveredCount: 0, ClickCount: 0 },
  ],
};

describe('parseStatisticsJson', () => {
  it('reads the flat documented shape: top-level counts and one line per channel', () => {
    expect(parseStatisticsJson({ ...ok, ...sample })).toEqual({
      kind: 'ok',
      envelope: { actionStatus: 'OK', errorCode: 0, errorInfo: 'sucess', requestId: null },
      stats: {
        overall: { total: 1000, sent: 900, delivered: 800, click: 70 },
        platforms: [
          { platform: 1, total: 600, sent: 550, delivered: 500, click: 50 },
          { platform: 4, total: 300, sent: 290, delivered: 0, click: 0 },
        ],
      },
    });
  });

  it('reads the counts inside one nested object the same way', () => {
    const flat = parseStatisticsJson({ ...ok, ...sample });
    expect(parseStatisticsJson({ ...ok, Data: sample })).toEqual(flat);
  });

  it('keeps a missing count unknown (null), never 0; a missing or null channel list is empty', () => {
    const parsed = parseStatisticsJson({ ...ok, TotalCount: 5, PlatformStatistics: null });
    expect(parsed).toMatchObject({
      kind: 'ok',
      stats: { overall: { total: 5, sent: null, delivered: null, click: null }, platforms: [] },
    });
    expect(parseStatisticsJson({ ...ok })).toMatchObject({
      kind: 'ok',
      stats: { overall: { total: null, sent: null, delivered: null, click: null }, platforms: [] },
    });
    expect(parseStatisticsJson({ ...ok, PlatformStatistics: [{ PushPlatform: 2, SentCount: 3 }] })).toMatchObject({
      kind: 'ok',
      stats: { platforms: [{ platform: 2, total: null, sent: 3, delivered: null }] },
    });
  });

  it('reads numbers given as strings, and counts above 2^31 exactly', () => {
    const big = 2 ** 31 + 7;
    const parsed = parseStatisticsBody(
      `{"ActionStatus":"OK","ErrorCode":"0","TotalCount":"${big}","SentCount":${big},"PlatformStatistics":[{"PushPlatform":"3","ClickCount":"12"}]}`,
    );
    expect(parsed).toMatchObject({
      kind: 'ok',
      stats: { overall: { total: big, sent: big }, platforms: [{ platform: 3, click: 12 }] },
    });
  });

  it('keeps unknown platform numbers', () => {
    const parsed = parseStatisticsJson({ ...ok, PlatformStatistics: [{ PushPlatform: 12, TotalCount: 1 }] });
    expect(parsed).toMatchObject({ kind: 'ok', stats: { platforms: [{ platform: 12, total: 1 }] } });
  });

  it('adds up a channel listed twice rather than dropping one', () => {
    const parsed = parseStatisticsJson({
      ...ok,
      PlatformStatistics: [
        { PushPlatform: 2, TotalCount: 1, SentCount: 1 },
        { PushPlatform: 2, TotalCount: 2 },
      ],
    });
    expect(parsed).toMatchObject({ kind: 'ok', stats: { platforms: [{ platform: 2, total: 3, sent: null }] } });
  });

  it.each([
    ['a negative count', { TotalCount: -1 }, /TotalCount is not a non-negative integer/],
    ['a fractional count', { SentCount: 1.5 }, /SentCount/],
    ['a count beyond 2^53', { DeliveredCount: '9007199254740993' }, /DeliveredCount/],
    ['a count that is not a number', { ClickCount: 'many' }, /ClickCount/],
    ['a channel list that is not an array', { PlatformStatistics: {} }, /PlatformStatistics is not an array/],
    ['a channel that is not an object', { PlatformStatistics: [1] }, /PlatformStatistics\[0\]: not an object/],
    ['a channel without PushPlatform', { PlatformStatistics: [{ TotalCount: 1 }] }, /PushPlatform/],
    ['a negative PushPlatform', { PlatformStatistics: [{ PushPlatform: -2 }] }, /PushPlatform/],
    ['counts in two nested objects', { A: { TotalCount: 1 }, B: { TotalCount: 2 } }, /more than one nested object/],
  ])('refuses %s', (_, body, reason) => {
    const parsed = parseStatisticsJson({ ...ok, ...body });
    expect(parsed.kind).toBe('invalid');
    expect(parsed.kind === 'invalid' && parsed.reason).toMatch(reason);
  });

  it('reports API errors and refuses bodies that are not JSON or not OK', () => {
    expect(parseStatisticsBody('{"ActionStatus":"FAIL","ErrorCode":90045,"ErrorInfo":"not enabled"}')).toMatchObject({
      kind: 'api_error',
      envelope: { errorCode: 90045 },
    });
    expect(parseStatisticsBody('<html>')).toMatchObject({ kind: 'invalid', reason: 'body is not JSON' });
    expect(parseStatisticsBody('{"ActionStatus":"FAIL","ErrorCode":0}')).toMatchObject({ kind: 'invalid' });
  });
});
