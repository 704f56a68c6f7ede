import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parsePushLossBody, parsePushLossJson } from '../../src/tencent/response.ts';

const documentedSample = {
  ReadyToSendLoss: [
    { ErrCode: '-1', ErrCount: 167, ErrInfo: 'certificate id not set' },
    { ErrCode: '-2', ErrCount: 125, ErrInfo: 'token not uploaded' },
  ],
  PostSendDeliveredLoss: [
    { ErrCode: '1', ErrCount: 217, ErrInfo: 'regid_invalid' },
    { ErrCode: '410', ErrCount: 35, ErrInfo: 'Unregistered' },
  ],
  PlatformReadyToSendLoss: [
    { PushPlatform: 1, ErrCode: '-1', ErrCount: 5, ErrInfo: 'certificate id not set' },
    { PushPlatform: 2, ErrCode: '-1', ErrCount: 123, ErrInfo: 'certificate id not set' },
  ],
  PlatformPostSendDeliveredLoss: [
    { PushPlatform: 1, ErrCode: '1', ErrCount: 217, ErrInfo: 'regid_invalid' },
    { PushPlatform: 3, ErrCode: '410', ErrCount: 35, ErrInfo: 'Unregistered' },
  ],
};
const ok = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: 'sucess' };

describe('parsePushLossBody', () => {
  it('reads the flat shape', () => {
    const parsed = parsePushLossJson({ ...ok, ...documentedSample });
    expect(parsed.kind).toBe('ok');
    if (parsed.kind !== 'ok') return;
    expect(parsed.entries).toHaveLength(8);
    expect(parsed.entries[0]).toEqual({
      stage: 'ready_to_send',
      platform: null,
      errCode: '-1',
      errInfo: 'certificate id not set',
      errCount: 167,
    });
    expect(parsed.entries.filter((e) => e.platform !== null).map((e) => e.platform)).toEqual([1, 2, 1, 3]);
    expect(
      parsed.entries.filter((e) => e.stage === 'post_send_delivered' && e.platform === null).map((e) => e.errCount),
    ).toEqual([217, 35]);
  });

  it('reads the documented nested shape the same way', () => {
    const flat = parsePushLossJson({ ...ok, ...documentedSample });
    const nested = parsePushLossJson({ ...ok, Data: documentedSample });
    expect(nested).toEqual(flat);
  });

  it('treats missing and null arrays as empty', () => {
    const parsed = parsePushLossJson({ ...ok, ReadyToSendLoss: null });
    expect(parsed).toMatchObject({ kind: 'ok', entries: [] });
  });

  it('keeps ErrCode as text whether it arrives as string or number', () => {
    const parsed = parsePushLossJson({ ...ok, PostSendDeliveredLoss: [{ ErrCode: 410, ErrCount: 3, ErrInfo: 'x' }] });
    expect(parsed).toMatchObject({ kind: 'ok', entries: [{ errCode: '410', errCount: 3 }] });
  });

  it('keeps unknown platform numbers', () => {
    const parsed = parsePushLossJson({
      ...ok,
      PlatformPostSendDeliveredLoss: [{ PushPlatform: 42, ErrCode: '1', ErrCount: 9 }],
    });
    expect(parsed).toMatchObject({ kind: 'ok', entries: [{ platform: 42, errInfo: '', errCount: 9 }] });
  });

  it.each([
    ['a negative count', { ErrCode: '1', ErrCount: -1 }],
    ['a fractional count', { ErrCode: '1', ErrCount: 1.5 }],
    ['a string count', { ErrCode: '1', ErrCount: '7' }],
    ['an unsafe count', { ErrCode: '1', ErrCount: 2 ** 60 }],
    ['a missing code', { ErrCount: 3 }],
  ])('rejects %s', (_name, item) => {
    const parsed = parsePushLossJson({ ...ok, ReadyToSendLoss: [item] });
    expect(parsed.kind).toBe('invalid');
    expect(parsed.kind === 'invalid' && parsed.reason).toMatch(/^ReadyToSendLoss\[0\]: Err/);
  });

  it('rejects a platform entry without a platform', () => {
    expect(parsePushLossJson({ ...ok, PlatformReadyToSendLoss: [{ ErrCode: '1', ErrCount: 1 }] }).kind).toBe('invalid');
  });

  it('reports API errors with their code, string or number', () => {
    expect(parsePushLossBody('{"ActionStatus":"FAIL","ErrorCode":90045,"ErrorInfo":"not enabled"}')).toEqual({
      kind: 'api_error',
      envelope: { actionStatus: 'FAIL', errorCode: 90045, errorInfo: 'not enabled', requestId: null },
    });
    expect(parsePushLossBody('{"ActionStatus":"FAIL","ErrorCode":"60011"}')).toMatchObject({
      kind: 'api_error',
      envelope: { errorCode: 60011 },
    });
  });

  it('refuses non-JSON, non-objects, FAIL without a code, and two nested candidates', () => {
    expect(parsePushLossBody('<html>502</html>').kind).toBe('invalid');
    expect(parsePushLossBody('[1,2]').kind).toBe('invalid');
    expect(parsePushLossBody('{"ActionStatus":"FAIL","ErrorCode":0}').kind).toBe('invalid');
    expect(parsePushLossJson({ ...ok, A: { ReadyToSendLoss: [] }, B: { PostSendDeliveredLoss: [] } }).kind).toBe(
      'invalid',
    );
  });

  it('keeps RequestId when present', () => {
    expect(parsePushLossJson({ ...ok, RequestId: 'abc' })).toMatchObject({ envelope: { requestId: 'abc' } });
  });
});

describe('parsePushLossBody properties', () => {
  it('never throws on arbitrary JSON or text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          fc.record({ ActionStatus: fc.constant('OK'), ReadyToSendLoss: fc.jsonValue(), X: fc.jsonValue() }),
        ),
        (value) => {
          parsePushLossJson(value);
          parsePushLossBody(JSON.stringify(value) ?? 'null');
        },
      ),
    );
    fc.assert(fc.property(fc.string(), (text) => void parsePushLossBody(text)));
  });

  const lossItem = fc.record({
    ErrCode: fc.oneof(fc.string(), fc.integer()),
    ErrCount: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    ErrInfo: fc.string(),
    PushPlatform: fc.nat({ max: 40 }),
  });
  const arrays = fc.record(
    {
      ReadyToSendLoss: fc.array(lossItem),
      PostSendDeliveredLoss: fc.array(lossItem),
      PlatformReadyToSendLoss: fc.array(lossItem),
      PlatformPostSendDeliveredLoss: fc.array(lossItem),
    },
    { requiredKeys: [] },
  );

  it('never invents or loses a count on well-formed answers, flat or nested', () => {
    fc.assert(
      fc.property(arrays, fc.boolean(), (body, nested) => {
        const parsed = parsePushLossJson(nested ? { ...ok, Data: body } : { ...ok, ...body });
        expect(parsed.kind).toBe('ok');
        if (parsed.kind !== 'ok') return;
        const sent = Object.values(body).flat();
        expect(parsed.entries.map((e) => e.errCount)).toEqual(sent.map((item) => item.ErrCount));
        expect(parsed.entries.map((e) => e.errCode)).toEqual(sent.map((item) => String(item.ErrCode)));
      }),
    );
  });

  it('on arbitrary entries, every count it returns is one that was sent, or it refuses the body', () => {
    fc.assert(
      fc.property(
        fc.array(fc.dictionary(fc.constantFrom('ErrCode', 'ErrCount', 'ErrInfo', 'PushPlatform'), fc.jsonValue())),
        (items) => {
          const parsed = parsePushLossJson({ ...ok, PlatformReadyToSendLoss: items });
          if (parsed.kind === 'ok') {
            expect(parsed.entries.map((e) => e.errCount)).toEqual(items.map((item) => item.ErrCount));
          } else {
            expect(parsed.kind).toBe('invalid');
          }
        },
      ),
    );
  });
});
